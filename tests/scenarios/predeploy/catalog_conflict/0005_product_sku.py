from django.db import migrations, models


class Migration(migrations.Migration):
    """A second branch from 0004: with 0005_remove_product_legacy_code, the app has two leaves."""

    dependencies = [("catalog", "0004_product_name_idx")]

    operations = [
        migrations.AddField(model_name="product", name="sku", field=models.CharField(max_length=32, null=True))
    ]
