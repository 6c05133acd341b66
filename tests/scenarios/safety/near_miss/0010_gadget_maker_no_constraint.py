from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0009_part")]

    operations = [
        migrations.AddField(
            model_name="gadget",
            name="maker",
            field=models.ForeignKey(
                null=True, db_constraint=False, db_index=False, on_delete=models.deletion.DO_NOTHING, to="catalog.maker"
            ),
        ),
    ]
