from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        migrations.AddField(model_name="gadget", name="colour", field=models.CharField(max_length=20, null=True)),
    ]
