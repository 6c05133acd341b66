from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_gadget_table_v2")]

    operations = [
        migrations.RemoveField(model_name="gadget", name="legacy"),
    ]
