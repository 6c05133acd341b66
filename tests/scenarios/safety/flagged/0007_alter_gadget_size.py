from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_alter_thing_table")]

    operations = [
        migrations.AlterField(model_name="gadget", name="size", field=models.CharField(max_length=20, default="0")),
    ]
