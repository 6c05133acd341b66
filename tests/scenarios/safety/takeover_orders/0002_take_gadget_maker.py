from django.db import migrations, models

# A state-only CreateModel keeping db_table: orders now owns the tables catalog created.


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial"), ("orders", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Maker",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                    ],
                    options={"db_table": "catalog_maker"},
                ),
                migrations.CreateModel(
                    name="Gadget",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                        ("legacy", models.CharField(max_length=50, default="", blank=True)),
                        ("notes", models.CharField(max_length=100)),
                    ],
                    options={"db_table": "catalog_gadget"},
                ),
            ]
        ),
    ]
