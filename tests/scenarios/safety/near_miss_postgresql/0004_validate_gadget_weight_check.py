from django.contrib.postgres.operations import ValidateConstraint
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_gadget_weight_check_not_valid")]

    operations = [
        ValidateConstraint(model_name="gadget", name="gadget_weight_gte_0"),
    ]
