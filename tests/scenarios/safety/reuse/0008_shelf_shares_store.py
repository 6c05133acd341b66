from django.db import migrations, models

# db_table reuse: Shelf takes over the table Store had, created earlier in this plan.


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_rename_store_table")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Shelf",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=100)),
                    ],
                    options={"db_table": "catalog_store"},
                ),
                migrations.DeleteModel("Store"),
            ]
        ),
    ]
