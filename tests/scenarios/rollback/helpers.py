"""Helpers of the rollback tests: releases made of scenario migration packages, and a cleanup that
brings the test database back to the testproject's migrations whatever a test left behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import connections
from django.test import override_settings

NEWAPP = "tests.scenarios.rollback.newapp"
BASELINE = {
    "catalog": {
        "0001_initial",
        "0002_product_slug",
        "0003_populate_slugs",
        "0004_product_name_idx",
        "0005_remove_product_legacy_code",
    },
    "orders": {"0001_initial", "0002_order_note"},
}
EXTRA_TABLES = ("rollback_newapp_shelf", "catalog_review")
EXTRA_COLUMNS = {"catalog_product": ("stock",), "orders_order": ("gift_note",)}


def _module(name: str) -> str:
    return f"tests.scenarios.migrate.{name}" if name == "catalog_next" else f"tests.scenarios.rollback.{name}"


@contextlib.contextmanager
def code(catalog: str | None = None, orders: str | None = None, newapp: bool = False) -> Iterator[None]:
    """The code of a release: catalog/orders migrations from scenario packages, and the new app."""
    modules = {}
    if catalog:
        modules["catalog"] = _module(catalog)
    if orders:
        modules["orders"] = _module(orders)
    overrides: dict[str, object] = {"MIGRATION_MODULES": modules}
    if newapp:
        overrides["INSTALLED_APPS"] = [*settings.INSTALLED_APPS, NEWAPP]
    with override_settings(**overrides):
        yield


def reset(alias: str = "default") -> None:
    """Forget every scenario migration and drop what they created (whatever state a test left)."""
    connection = connections[alias]
    connection.close()
    quote = connection.ops.quote_name
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for app, names in BASELINE.items():
            cursor.execute("SELECT name FROM django_migrations WHERE app = %s", [app])
            for (name,) in cursor.fetchall():
                if name not in names:
                    cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", [app, name])
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["rollback_newapp"])
        for table in EXTRA_TABLES:
            if table in existing:
                cursor.execute(f"DROP TABLE {quote(table)}")
        for table, columns in EXTRA_COLUMNS.items():
            present = {c.name for c in connection.introspection.get_table_description(cursor, table)}
            for column in columns:
                if column in present:
                    cursor.execute(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}")


def schema(alias: str = "default", exclude: tuple[str, ...] = ("django_cicd_release",)) -> dict[str, list[str]]:
    """{table: [column:type:null, ...]} by introspection, for comparing schemas."""
    connection = connections[alias]
    result = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in exclude:
                continue
            description = connection.introspection.get_table_description(cursor, table)
            result[table] = sorted(f"{c.name}:{c.type_code}:{c.null_ok}" for c in description)
    return result
