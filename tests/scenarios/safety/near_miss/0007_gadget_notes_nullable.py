from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_widen_gadget_notes")]

    operations = [
        migrations.AlterField(model_name="gadget", name="notes", field=models.CharField(max_length=200, null=True)),
    ]
