from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_delete_legacy")]

    operations = [
        migrations.RenameField(model_name="gadget", old_name="name", new_name="label"),
    ]
