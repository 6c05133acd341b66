from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_gadget_notes_idx")]

    operations = [
        migrations.AddField(
            model_name="gadget",
            name="maker",
            field=models.ForeignKey(null=True, on_delete=models.deletion.CASCADE, to="catalog.maker"),
        ),
    ]
