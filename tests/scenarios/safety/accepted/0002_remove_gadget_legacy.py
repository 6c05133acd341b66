from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    cicd_accept = {"cicd.safety.remove_field": "Gadget.legacy is unused since release 41 (state removed there)"}

    operations = [
        migrations.RemoveField(model_name="gadget", name="legacy"),
    ]
