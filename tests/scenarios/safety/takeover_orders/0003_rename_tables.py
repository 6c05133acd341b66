from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_take_gadget_maker")]

    operations = [
        migrations.AlterModelTable(name="gadget", table=None),
        migrations.AlterModelTable(name="maker", table="orders_maker"),
    ]
