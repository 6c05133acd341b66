"""Adds a column and a table, changes rows, then raises: on MySQL/MariaDB the DDL stays applied."""

from django.db import migrations, models


def change_then_fail(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    Product.objects.using(schema_editor.connection.alias).update(name="changed by a failed migration")
    raise RuntimeError("this migration fails halfway on purpose")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.AddField("product", "weight", models.IntegerField(db_default=0)),
        migrations.CreateModel("Warehouse", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.RunPython(change_then_fail, migrations.RunPython.noop),
    ]
