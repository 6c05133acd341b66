from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_product_name_idx")]

    operations = [migrations.RemoveField(model_name="product", name="legacy_code")]
