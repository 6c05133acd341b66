from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_rename_tables")]

    operations = [
        migrations.AlterModelTable(name="gadget", table="orders_gadget_v2"),
    ]
