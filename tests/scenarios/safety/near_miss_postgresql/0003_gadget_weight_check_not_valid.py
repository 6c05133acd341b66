from django.contrib.postgres.operations import AddConstraintNotValid
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_gadget_notes_idx_concurrently")]

    operations = [
        AddConstraintNotValid(
            model_name="gadget",
            constraint=models.CheckConstraint(condition=models.Q(weight__gte=0), name="gadget_weight_gte_0"),
        ),
    ]
