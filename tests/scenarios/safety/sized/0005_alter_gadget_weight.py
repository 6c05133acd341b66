from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_update_gadgets_sql")]

    operations = [
        migrations.AlterField(model_name="gadget", name="weight", field=models.BigIntegerField(default=0)),
    ]
