from django.db import migrations


def fill_gadgets(apps, schema_editor):
    pass


def clear_gadgets(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("catalog", "0020_part")]

    operations = [
        migrations.RunPython(fill_gadgets, clear_gadgets),
    ]
