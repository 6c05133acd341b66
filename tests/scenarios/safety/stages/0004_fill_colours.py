from django.db import migrations


def fill(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    cicd_stage = "pre"
    dependencies = [("catalog", "0003_remove_gadget_legacy")]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
