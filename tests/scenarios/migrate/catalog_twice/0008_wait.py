"""Hands over to the test (CICD_TEST_MARKER / CICD_TEST_GO) while being applied."""

from django.db import migrations

from tests.scenarios.migrate.catalog_twice._handshake import hand_over


def forward(apps, schema_editor):
    hand_over(apps, schema_editor, "CICD_TEST_MARKER", "CICD_TEST_GO")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_weight")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
