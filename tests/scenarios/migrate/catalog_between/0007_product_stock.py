from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [migrations.AddField("product", "stock", models.IntegerField(db_default=0))]
