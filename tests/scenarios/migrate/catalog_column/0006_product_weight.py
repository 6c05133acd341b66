from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.AddField("product", "weight", models.IntegerField(null=True))]
