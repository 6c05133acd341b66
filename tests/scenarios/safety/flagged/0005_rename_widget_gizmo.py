from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_rename_gadget_name_label")]

    operations = [
        migrations.RenameModel(old_name="Widget", new_name="Gizmo"),
    ]
