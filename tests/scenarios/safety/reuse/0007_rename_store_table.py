from django.db import migrations

# The table is renamed by SQL; Django is told with a state-only AlterModelTable.


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_store")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE catalog_widget_store RENAME TO catalog_store",
                    reverse_sql="ALTER TABLE catalog_store RENAME TO catalog_widget_store",
                )
            ],
            state_operations=[migrations.AlterModelTable("store", "catalog_store")],
        ),
    ]
