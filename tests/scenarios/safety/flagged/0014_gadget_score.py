from django.db import migrations, models
from django.db.models.functions import Random


class Migration(migrations.Migration):
    dependencies = [("catalog", "0013_gadget_weight_check")]

    operations = [
        migrations.AddField(model_name="gadget", name="score", field=models.FloatField(null=True, db_default=Random())),
    ]
