"""Adds a column, then hands over to the test: writes CICD_TEST_MARKER, waits for the CICD_TEST_GO
file, runs one statement, and fails when CICD_TEST_FAIL is set. The test does its part (kills the
lock's session, sends a signal, writes rows from another connection) between the two files."""

import os
import time
from pathlib import Path

from django.db import migrations, models


def hand_over(apps, schema_editor):
    marker, go = os.environ.get("CICD_TEST_MARKER"), os.environ.get("CICD_TEST_GO")
    if marker:
        Path(marker).write_text("inside 0007_wait_for_go")
    if go:
        deadline = time.monotonic() + 120
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    Product = apps.get_model("catalog", "Product")
    Product.objects.using(schema_editor.connection.alias).filter(pk=-1).update(name="statement after the handshake")
    if os.environ.get("CICD_TEST_FAIL"):
        raise RuntimeError("0007_wait_for_go fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.AddField("product", "weight", models.IntegerField(db_default=0)),
        migrations.RunPython(hand_over, migrations.RunPython.noop),
    ]
