from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_piece_code")]

    operations = [
        migrations.CreateModel(
            name="Store",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
            options={"db_table": "catalog_widget_store"},
        ),
    ]
