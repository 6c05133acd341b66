"""Expand: a nullable column the old code does not know about (safe before the rollout)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.AddField("product", "subtitle", models.CharField(max_length=100, null=True))]
