"""Adds a column; its reverse hands over to the test (CICD_TEST_MARKER_BACK / CICD_TEST_GO_BACK)."""

from django.db import migrations, models

from tests.scenarios.migrate.catalog_twice._handshake import hand_over


def back(apps, schema_editor):
    hand_over(apps, schema_editor, "CICD_TEST_MARKER_BACK", "CICD_TEST_GO_BACK")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.AddField("product", "weight", models.IntegerField(db_default=0)),
        migrations.RunPython(migrations.RunPython.noop, back),
    ]
