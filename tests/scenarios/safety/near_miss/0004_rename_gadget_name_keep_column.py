from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_forget_legacy")]

    operations = [
        migrations.AlterField(
            model_name="gadget", name="name", field=models.CharField(max_length=100, db_column="name")
        ),
        migrations.RenameField(model_name="gadget", old_name="name", new_name="label"),
    ]
