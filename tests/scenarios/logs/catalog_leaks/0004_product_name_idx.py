from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_populate_slugs")]

    operations = [
        migrations.AddIndex(
            model_name="product",
            index=models.Index(fields=["name"], name="catalog_product_name_idx"),
        ),
    ]
