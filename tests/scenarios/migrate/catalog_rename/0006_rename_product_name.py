"""A rename: the old code reads "name", the new code "title"; neither stage is safe."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.RenameField("product", "name", "title")]
