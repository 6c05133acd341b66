from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_remove_gadget_legacy")]

    operations = [
        migrations.DeleteModel(name="Legacy"),
    ]
