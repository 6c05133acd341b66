from django.db import migrations


def uppercase(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    for product in Product.objects.using(schema_editor.connection.alias).all():
        product.name = product.name.upper()
        product.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    # No reverse: the original names are not kept. Only a restore brings them back.
    operations = [migrations.RunPython(uppercase)]
