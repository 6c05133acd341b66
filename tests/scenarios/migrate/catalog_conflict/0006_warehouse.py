"""A second 0006 made on another branch: two leaves, which migrate refuses until they are merged."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [
        migrations.CreateModel(
            name="Warehouse",
            fields=[("id", models.BigAutoField(primary_key=True, serialize=False))],
        ),
    ]
