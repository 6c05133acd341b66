"""A hand-over between a migration and the test: write the marker file named by ``marker``, wait for
the file named by ``go``, then run one statement (where a stopped run notices)."""

import os
import time
from pathlib import Path


def hand_over(apps, schema_editor, marker, go):
    marker, go = os.environ.get(marker), os.environ.get(go)
    if marker:
        Path(marker).write_text("here")
    if go:
        deadline = time.monotonic() + 120
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    Product = apps.get_model("catalog", "Product")
    Product.objects.using(schema_editor.connection.alias).filter(pk=-1).update(name="after the hand-over")
