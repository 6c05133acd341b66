"""A non-atomic migration: adds a column, then one RunSQL creates a view, a table and an index and
fails on its last statement. Each statement commits on its own, on every vendor: recovery must undo
the column (operation by operation) and drop the view, the table and the index (on the catalog)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.AddField("product", "weight", models.IntegerField(db_default=0)),
        migrations.RunSQL(
            [
                "CREATE VIEW catalog_cheap AS SELECT id, name FROM catalog_product WHERE price < 10",
                "CREATE TABLE catalog_leftover (id INTEGER PRIMARY KEY, note VARCHAR(20))",
                "CREATE INDEX catalog_leftover_note ON catalog_leftover (note)",
                "SELECT no_such_column FROM catalog_product",
            ],
            migrations.RunSQL.noop,
        ),
    ]
