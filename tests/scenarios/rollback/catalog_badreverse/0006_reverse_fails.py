from django.db import migrations


def forwards(apps, schema_editor):
    pass


def backwards(apps, schema_editor):
    raise RuntimeError("this reverse fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.RunPython(forwards, backwards)]
