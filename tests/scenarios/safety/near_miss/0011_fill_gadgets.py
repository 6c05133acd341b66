from django.db import migrations


def fill_gadgets(apps, schema_editor):
    pass


def clear_gadgets(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_gadget_maker_no_constraint")]

    operations = [
        migrations.RunPython(fill_gadgets, clear_gadgets),
        migrations.RunSQL(
            "UPDATE catalog_gadget SET weight = 1 WHERE weight = 0",
            reverse_sql="UPDATE catalog_gadget SET weight = 0 WHERE weight = 1",
        ),
    ]
