from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_alter_gadget_size")]

    operations = [
        migrations.AlterField(model_name="gadget", name="nickname", field=models.CharField(max_length=30, default="")),
    ]
