from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0001_initial")]

    operations = [
        AddIndexConcurrently(model_name="gadget", index=models.Index(fields=["notes"], name="gadget_notes_idx")),
    ]
