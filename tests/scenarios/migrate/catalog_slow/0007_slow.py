"""Adds a column, then writes a marker file and sleeps: the tests kill the process there."""

import os
import time

from django.db import migrations, models


def mark_and_sleep(apps, schema_editor):
    marker = os.environ.get("CICD_TEST_MARKER")
    if marker:
        with open(marker, "w") as handle:
            handle.write("inside 0007_slow")
        time.sleep(float(os.environ.get("CICD_TEST_SLEEP", "60")))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.AddField("product", "weight", models.IntegerField(db_default=0)),
        migrations.RunPython(mark_and_sleep, migrations.RunPython.noop),
    ]
