from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_gadget_notes_nullable")]

    operations = [
        migrations.AddField(model_name="gadget", name="sku", field=models.CharField(max_length=20, db_default="none")),
        migrations.AddField(model_name="gadget", name="color", field=models.CharField(max_length=20, null=True)),
    ]
