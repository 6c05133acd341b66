from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.AddIndex(model_name="gadget", index=models.Index(fields=["notes"], name="gadget_notes_idx")),
    ]
