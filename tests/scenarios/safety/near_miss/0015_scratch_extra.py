from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0014_scratch")]

    operations = [
        migrations.AddField(model_name="scratch", name="extra", field=models.IntegerField(null=True)),
    ]
