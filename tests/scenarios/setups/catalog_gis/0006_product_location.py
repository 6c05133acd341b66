import django.contrib.gis.db.models.fields
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="location",
            field=django.contrib.gis.db.models.fields.PointField(null=True, srid=4326, spatial_index=False),
        ),
    ]
