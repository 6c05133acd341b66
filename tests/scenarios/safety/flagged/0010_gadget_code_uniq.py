from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0009_gadget_sku")]

    operations = [
        migrations.AddConstraint(
            model_name="gadget", constraint=models.UniqueConstraint(fields=["code"], name="catalog_gadget_code_uniq")
        ),
    ]
