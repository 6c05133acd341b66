from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_customer_phone")]

    operations = [
        migrations.RenameField(model_name="customer", old_name="name", new_name="full_name"),
    ]
