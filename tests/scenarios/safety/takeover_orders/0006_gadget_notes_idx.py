from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0005_remove_gadget_legacy")]

    operations = [
        migrations.AddIndex(model_name="gadget", index=models.Index(fields=["notes"], name="orders_gadget_notes_idx")),
    ]
