"""Helpers of the safe_migrate tests: scenario switching, subprocess runs, database snapshots."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from tests.utils import ROOT

SETTINGS = "tests.scenarios.migrate.settings"


def database_url(alias: str = "default") -> str:
    """A DATABASE_URL for the test database of ``alias``, so a subprocess migrates the same one."""
    s = connections[alias].settings_dict
    engine = connections[alias].vendor
    if engine == "sqlite":
        return f"sqlite:///{s['NAME']}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[engine]
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"{scheme}://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or ''}/{s['NAME']}"


@contextlib.contextmanager
def scenario(name: str, alias: str = "default") -> Iterator[None]:
    """Swap in the catalog migrations of ``name``; afterwards bring catalog back to 0005."""
    with override_settings(MIGRATION_MODULES={"catalog": f"tests.scenarios.migrate.{name}"}):
        try:
            yield
        finally:
            connections[alias].close()
            drop_views(alias, "catalog_cheap")
            call_command("migrate", "catalog", "0005", database=alias, verbosity=0)
            drop_tables(alias, "catalog_review", "catalog_warehouse", "catalog_leftover")
            drop_columns(alias, "catalog_product", "weight", "stock", "subtitle")


def drop_tables(alias: str, *tables: str) -> None:
    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in tables:
            if table in existing:
                cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")


def drop_views(alias: str, *views: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        for view in views:
            cursor.execute(f"DROP VIEW IF EXISTS {connection.ops.quote_name(view)}")


def drop_columns(alias: str, table: str, *columns: str) -> None:
    connection = connections[alias]
    with connection.cursor() as cursor:
        present = {c.name for c in connection.introspection.get_table_description(cursor, table)}
        for column in columns:
            if column in present:
                cursor.execute(
                    f"ALTER TABLE {connection.ops.quote_name(table)} DROP COLUMN {connection.ops.quote_name(column)}"
                )


def run_manage(*args: str, env: dict[str, str] | None = None, alias: str = "default", **popen) -> subprocess.Popen:
    """Start ``manage.py`` on the test database (of ``alias``) in a subprocess."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": database_url(alias),
        **(env or {}),
    }
    full_env.pop("DJANGO_ENV", None)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=full_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def snapshot(alias: str = "default", exclude: tuple[str, ...] = ("django_cicd_release",)) -> dict[str, str]:
    """{table: sha256 of its columns (name, type, null) and its rows in primary-key order}."""
    connection = connections[alias]
    result = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table in exclude:
                continue
            digest = hashlib.sha256()
            description = connection.introspection.get_table_description(cursor, table)
            for column in description:
                digest.update(f"{column.name}:{column.type_code}:{column.null_ok};".encode())
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted} ORDER BY 1")
            for row in cursor.fetchall():
                digest.update(repr(row).encode())
            result[table] = digest.hexdigest()
    return result
