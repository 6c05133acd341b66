from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0018_gadget_unique_together")]

    operations = [
        migrations.RemoveField(model_name="gadget", name="serial"),
    ]
