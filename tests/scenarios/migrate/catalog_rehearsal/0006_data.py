from django.db import migrations

from tests.scenarios.migrate.catalog_rehearsal import _cases


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [migrations.RunPython(_cases.forwards, _cases.backwards)]
