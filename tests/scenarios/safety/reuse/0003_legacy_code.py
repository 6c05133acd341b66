from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_recreate_legacy")]

    operations = [
        migrations.AddField(model_name="legacy", name="code", field=models.CharField(max_length=10, default="x")),
    ]
