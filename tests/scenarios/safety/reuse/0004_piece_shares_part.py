from django.db import migrations, models

# A model new to Django's state, on a table that existed before the plan (it has rows).


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_legacy_code")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Piece",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                    ],
                    options={"db_table": "catalog_part"},
                ),
                migrations.DeleteModel("Part"),
            ]
        ),
    ]
