"""Writes a marker file and sleeps before doing anything, outside a transaction: 0007 is applied and
recorded, 0008 has changed nothing. The tests kill the process there, between two migrations."""

import os
import time

from django.db import migrations


def mark_and_sleep(apps, schema_editor):
    marker = os.environ.get("CICD_TEST_MARKER")
    if marker:
        with open(marker, "w") as handle:
            handle.write("after 0007_product_stock, before 0008_pause changes anything")
        time.sleep(float(os.environ.get("CICD_TEST_SLEEP", "60")))


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("catalog", "0007_product_stock")]

    operations = [migrations.RunPython(mark_and_sleep, migrations.RunPython.noop, atomic=False)]
