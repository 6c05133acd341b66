from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_gadget_colour")]

    operations = [
        migrations.RemoveField(model_name="gadget", name="legacy"),
    ]
