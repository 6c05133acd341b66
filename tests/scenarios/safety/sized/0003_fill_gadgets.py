from django.db import migrations


def fill_weights(apps, schema_editor):
    Gadget = apps.get_model("catalog", "Gadget")
    Gadget.objects.filter(weight=0).update(weight=1)


def clear_weights(apps, schema_editor):
    Gadget = apps.get_model("catalog", "Gadget")
    Gadget.objects.filter(weight=1).update(weight=0)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_gadget_notes_idx")]

    operations = [
        migrations.RunPython(fill_weights, clear_weights),
    ]
