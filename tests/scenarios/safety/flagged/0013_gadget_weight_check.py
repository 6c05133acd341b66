from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0012_gadget_maker")]

    operations = [
        migrations.AddConstraint(
            model_name="gadget",
            constraint=models.CheckConstraint(condition=models.Q(weight__gte=0), name="gadget_weight_gte_0"),
        ),
    ]
