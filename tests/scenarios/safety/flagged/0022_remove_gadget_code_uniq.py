from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0021_clean_parts")]

    operations = [
        migrations.RemoveConstraint(model_name="gadget", name="catalog_gadget_code_uniq"),
    ]
