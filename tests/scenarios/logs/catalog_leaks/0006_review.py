from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [
        migrations.CreateModel(
            name="Review",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("stars", models.IntegerField(default=5)),
            ],
        ),
    ]
