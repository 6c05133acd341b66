from django.contrib.gis.geos import Point
from django.db import migrations

MAP = "Map of Paris"


def place(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    Product.objects.create(name=MAP, price="4.50", location=Point(2.35, 48.85, srid=4326))
    location = Product.objects.get(name=MAP).location
    if (round(location.x, 2), round(location.y, 2)) != (2.35, 48.85):
        raise RuntimeError(f"the point was not read back: {location}")


def unplace(apps, schema_editor):
    apps.get_model("catalog", "Product").objects.filter(name=MAP).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_product_location")]

    operations = [migrations.RunPython(place, unplace)]
