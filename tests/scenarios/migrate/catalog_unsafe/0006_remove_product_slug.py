from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.RemoveField(model_name="product", name="slug")]
