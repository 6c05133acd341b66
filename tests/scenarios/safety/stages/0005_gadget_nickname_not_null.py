from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_fill_colours")]

    operations = [
        migrations.AlterField(model_name="gadget", name="nickname", field=models.CharField(max_length=30, default="")),
    ]
