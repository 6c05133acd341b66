from __future__ import annotations

import time
from collections.abc import Iterator

from django.db import connections

from django_cicd import vendors
from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.redaction import redact
from django_cicd.report import Finding, Severity


def server_version(alias: str) -> str:
    """A human-readable server version for a connected alias."""
    connection = connections[alias]
    return vendors.adapter(connection).server_description(connection)


@register("cicd.database.reachable", title="Each target database answers", needs_database=True)
def database_reachable(ctx: CheckContext) -> Iterator[Finding]:
    """Connects to every target alias, runs a query, and reports the server version and latency."""
    for alias in ctx.databases:
        connection = connections[alias]
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            version = server_version(alias)
        except Exception as exc:  # noqa: BLE001 (every driver raises its own error classes)
            settings_dict = connection.settings_dict
            where = settings_dict.get("HOST") or settings_dict.get("NAME") or "?"
            yield Finding(
                message=redact(f"{alias}: cannot connect to {connection.vendor} at {where}: {exc}".strip()),
                hint=f"Check DATABASES[{alias!r}] (or DATABASE_URL) and that the server accepts connections.",
                code="cicd.database.unreachable",
                extra={"database": alias},
            )
        else:
            elapsed = (time.perf_counter() - started) * 1000
            yield Finding(
                message=f"{alias}: {version}, answered in {elapsed:.0f} ms",
                severity=Severity.INFO,
                code="cicd.database.version",
                extra={"database": alias, "version": version},
            )
