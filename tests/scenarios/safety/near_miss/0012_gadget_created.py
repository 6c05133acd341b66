from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_fill_gadgets")]

    operations = [
        migrations.AddField(
            model_name="gadget", name="created", field=models.DateTimeField(null=True, db_default=Now())
        ),
    ]
