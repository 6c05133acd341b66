"""``manage.py releases``: the release ledger of a database, as a table or JSON. Exit 0, or 2."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.db import connections

from django_cicd import ledger
from django_cicd.management.base import CicdCommand, add_output_options, could_not_run
from django_cicd.models import Release
from django_cicd.release import printable

#: The most rows one listing asks for (0 asks for every row); beyond it a LIMIT overflows some drivers.
MAX_LIMIT = 1_000_000
COLUMNS = ("id", "release", "kind", "status", "started (UTC)", "seconds", "migrations", "backup", "image", "host")


class Command(CicdCommand):
    help = "List the release ledger (deploys and rollbacks) of a database, newest first."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        parser.add_argument("--database", default="default", help="The database alias (default: default).")
        parser.add_argument(
            "--limit",
            type=int,
            default=20,
            help=f"How many rows, newest first (0: all; at most {MAX_LIMIT}; default 20).",
        )
        parser.add_argument("--kind", choices=["deploy", "rollback"], help="Only deploys or only rollbacks.")

    def handle(
        self, *args: Any, format: str, output: str | None, database: str, limit: int, kind: str | None, **options: Any
    ) -> None:
        if not 0 <= limit <= MAX_LIMIT:
            raise could_not_run(f"--limit must be between 0 (every row) and {MAX_LIMIT}, not {limit}.")
        if database not in connections.settings:
            raise could_not_run(
                f"unknown database alias {database!r}; DATABASES has: {', '.join(connections.settings)}"
            )
        try:
            connections[database].ensure_connection()
            exists = ledger.table_exists(database)
            rows = ledger.list_releases(database, limit=limit or None, kind=kind) if exists else []
        except Exception as exc:
            reason = printable(str(exc)).strip()
            raise could_not_run(
                f"cannot read the ledger of database {database!r}: {type(exc).__name__}: {reason}; check "
                f"DATABASES[{database!r}] and that the server is reachable from here"
            ) from exc
        text = self._table(database, rows, exists)
        if format == "json":
            document = {
                "schema": "django-cicd/releases",
                "version": 1,
                "database": database,
                "ledger_exists": exists,
                "releases": [row.as_dict() for row in rows],
            }
            self.write_output(json.dumps(document, indent=2) + "\n", output, text=text)
        else:
            self.write_output(text, output)

    def _table(self, database: str, rows: list[Release], exists: bool) -> str:
        """The text listing; every value from the ledger goes through printable(), so none can start a
        line of its own or move the cursor (the JSON document keeps them as recorded, escaped)."""
        if not exists:
            return (
                f"no release ledger in database {database!r} yet: safe_migrate creates it "
                f"(manage.py safe_migrate --database {database})\n"
            )
        if not rows:
            return f"no releases recorded in database {database!r}\n"
        table = [COLUMNS]
        for row in rows:
            seconds = (row.finished_at - row.started_at).total_seconds() if row.finished_at else None
            table.append(
                (
                    str(row.pk),
                    printable(row.name)[:40],
                    printable(row.kind + (f" ({ledger.stage(row)})" if ledger.stage(row) else "")),
                    printable(row.status),
                    row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{seconds:.2f}" if seconds is not None else "-",
                    str(len(row.plan or [])),
                    printable(row.backup_name) or "-",
                    printable(row.image) or "-",
                    printable(row.host) or "-",
                )
            )
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table
        ]
        errors = [f"  {row.pk}: {printable(row.error).strip()}" for row in rows if row.error]
        if errors:
            lines += ["", "errors:", *errors]
        return "\n".join(lines) + "\n"
