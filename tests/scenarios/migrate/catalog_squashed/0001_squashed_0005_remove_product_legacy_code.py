"""catalog squashed, its replaced files deleted but 'replaces' kept: migrate --prune refuses to prune
the replaced migrations' rows (the squash may not be recorded yet)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    replaces = [
        ("catalog", "0001_initial"),
        ("catalog", "0002_product_slug"),
        ("catalog", "0003_populate_slugs"),
        ("catalog", "0004_product_name_idx"),
        ("catalog", "0005_remove_product_legacy_code"),
    ]
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Product",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=200)),
                ("slug", models.SlugField(null=True, blank=True)),
                ("price", models.DecimalField(max_digits=10, decimal_places=2)),
            ],
            options={"indexes": [models.Index(fields=["name"], name="catalog_product_name_idx")]},
        ),
    ]
