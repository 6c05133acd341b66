from django.db import migrations

# Gadget and Maker move to the orders app: Django forgets them here, the tables stay (orders takes
# them over in orders.0002_take_gadget_maker).


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial"), ("orders", "0002_take_gadget_maker")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel("Gadget"), migrations.DeleteModel("Maker")]
        ),
    ]
