from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_gadget_code_uniq")]

    operations = [
        migrations.AddIndex(model_name="gadget", index=models.Index(fields=["notes"], name="gadget_notes_idx")),
    ]
