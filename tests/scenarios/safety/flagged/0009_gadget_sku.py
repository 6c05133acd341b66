from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_alter_gadget_nickname")]

    operations = [
        migrations.AddField(
            model_name="gadget",
            name="sku",
            field=models.CharField(max_length=20, default="none"),
            preserve_default=False,
        ),
    ]
