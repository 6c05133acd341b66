from django.db import migrations
from django.utils.text import slugify


def fill_slugs(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    for product in Product.objects.using(schema_editor.connection.alias).filter(slug__isnull=True):
        product.slug = slugify(product.name)
        product.save(update_fields=["slug"])


def clear_slugs(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    Product.objects.using(schema_editor.connection.alias).update(slug=None)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_product_slug")]

    operations = [migrations.RunPython(fill_slugs, clear_slugs)]
