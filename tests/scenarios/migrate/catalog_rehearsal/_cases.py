"""What 0006_data does, by CICD_TEST_REHEARSAL_CASE. Every case writes the way real data migrations
do: through the default manager, ``django.db.connection`` or a router, never through
``schema_editor.connection.alias``. A rehearsal must send all of it to the scratch copy.

(The loader skips modules whose name starts with "_", so this is not a migration.)
"""

from __future__ import annotations

import os
import signal
from typing import Any

from django.db import connection, connections
from django.db.backends.base.base import NO_DB_ALIAS

NEW = "Rehearsed product"

#: What the forward function saw, for tests in this process: one dict per run.
SEEN: list[dict[str, Any]] = []
#: The target's settings (before the rehearsal repointed them), for the "touches_target" case.
TARGET: dict[str, Any] = {}


def case() -> str:
    return os.environ.get("CICD_TEST_REHEARSAL_CASE", "default_manager")


def _record(schema_editor: Any, Product: Any) -> None:
    SEEN.append(
        {
            "case": case(),
            "default": str(connections["default"].settings_dict["NAME"]),
            "migrating": str(schema_editor.connection.settings_dict["NAME"]),
            "alias": schema_editor.connection.alias,
            # The migrating connection sees what the default manager wrote when both are the copy.
            "seen": Product.objects.using(schema_editor.connection.alias).filter(name=NEW).count(),
        }
    )


def forwards(apps: Any, schema_editor: Any) -> None:
    Product = apps.get_model("catalog", "Product")
    which = case()
    if which in {"default_manager", "interrupted", "fails"}:
        Product.objects.create(name=NEW, price="1.00")
        Product.objects.exclude(name=NEW).update(slug="rehearsed")
        _record(schema_editor, Product)
        if which == "interrupted":
            # A cancelled CI job: SIGTERM arrives while the migration runs.
            os.kill(os.getpid(), signal.SIGTERM)
        if which == "fails":
            raise RuntimeError("this data migration fails after writing")
    elif which == "raw_sql":
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO catalog_product (name, price, slug) VALUES (%s, %s, %s)", [NEW, "2.00", "raw"])
            cursor.execute("UPDATE catalog_product SET price = price + 1")
        _record(schema_editor, Product)
    elif which == "routed":
        # The router sends writes to "twin" (the same database as "default") and reads to "replica"
        # (TEST MIRROR "default"): both must reach the copy for the row to be read back.
        Product.objects.create(name=NEW, price="3.00")
        if not Product.objects.filter(name=NEW).exists():
            raise RuntimeError("the row written through 'twin' is not seen through 'replica'")
        _record(schema_editor, Product)
    elif which == "touches_target":
        # Code that opens its own connection to the target: the rehearsal must refuse it even when
        # the migration swallows the error.
        stray = type(schema_editor.connection)({**TARGET}, alias=NO_DB_ALIAS)
        try:
            with stray.cursor() as cursor:
                cursor.execute("UPDATE catalog_product SET slug = 'touched'")
        except Exception:  # noqa: BLE001, S110 (the point: the rehearsal fails all the same)
            pass
        finally:
            stray.close()
    elif which == "touches_target_alias":
        # An alias that reaches the target under another spelling of its settings (an empty PORT
        # for the default one): not repointed, so connecting to it must fail the rehearsal.
        try:
            with connections["elsewhere"].cursor() as cursor:
                cursor.execute("UPDATE catalog_product SET slug = 'touched'")
        except Exception:  # noqa: BLE001, S110
            pass
    else:  # pragma: no cover
        raise AssertionError(f"unknown CICD_TEST_REHEARSAL_CASE {which!r}")


def backwards(apps: Any, schema_editor: Any) -> None:
    Product = apps.get_model("catalog", "Product")
    which = case()
    if which == "raw_sql":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM catalog_product WHERE name = %s", [NEW])
            cursor.execute("UPDATE catalog_product SET price = price - 1")
    elif which not in {"touches_target", "touches_target_alias"}:
        Product.objects.filter(name=NEW).delete()
