from django.db import migrations, transaction


def fill_names(apps, schema_editor):
    Gadget = apps.get_model("catalog", "Gadget")
    last = 0
    while True:
        with transaction.atomic():
            batch = list(Gadget.objects.filter(pk__gt=last).order_by("pk")[:1000])
            for gadget in batch:
                gadget.name = gadget.name.strip()
            Gadget.objects.bulk_update(batch, ["name"])
        if not batch:
            return
        last = batch[-1].pk


class Migration(migrations.Migration):
    # Batched: each batch commits on its own.
    atomic = False
    dependencies = [("catalog", "0006_clean_makers")]

    operations = [
        migrations.RunPython(fill_names, migrations.RunPython.noop),
    ]
