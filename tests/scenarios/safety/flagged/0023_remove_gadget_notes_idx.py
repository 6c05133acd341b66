from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0022_remove_gadget_code_uniq")]

    operations = [
        migrations.RemoveIndex(model_name="gadget", name="gadget_notes_idx"),
    ]
