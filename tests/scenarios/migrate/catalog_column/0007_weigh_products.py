"""A data migration that reads rows back through the ORM inside the migration's transaction: an
INSERT ... RETURNING and a SELECT. The rehearsal's lock sampling on PostgreSQL must not touch the
cursor these queries fetch from (it once did, and the insert failed with a TypeError)."""

from django.db import migrations

PARCEL = "Parcel scale"


def weigh(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    products = Product.objects.using(schema_editor.connection.alias)
    scale = products.create(name=PARCEL, price="9.90", weight=1200)
    if scale.pk is None or not products.filter(pk=scale.pk).exists():
        raise RuntimeError("the new product cannot be read back in the migration's own transaction")
    products.filter(weight__isnull=True).update(weight=1000)


def unweigh(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    Product.objects.using(schema_editor.connection.alias).filter(name=PARCEL).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_product_weight")]

    operations = [migrations.RunPython(weigh, unweigh)]
