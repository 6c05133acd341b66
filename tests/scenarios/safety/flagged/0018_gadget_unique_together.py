from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0017_update_gadgets_sql")]

    operations = [
        migrations.AlterUniqueTogether(name="gadget", unique_together={("label", "notes")}),
    ]
