"""Contract: the new code no longer reads the slug; the old code does (safe only after the rollout)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_product_subtitle")]

    operations = [migrations.RemoveField(model_name="product", name="slug")]
