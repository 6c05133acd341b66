from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0005_gadget_uuid")]

    operations = [
        RemoveIndexConcurrently(model_name="gadget", name="gadget_notes_idx"),
    ]
