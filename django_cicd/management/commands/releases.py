"""``manage.py releases``: the release ledger of a database, as a table or JSON. Exit 0, or 2."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.db import connections

from django_cicd import ledger
from django_cicd.management.base import CicdCommand, add_output_options, could_not_run
from django_cicd.release import printable

#: The most rows one listing asks for (0 asks for every row); beyond it a LIMIT overflows some drivers.
MAX_LIMIT = 1_000_000


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
            result = ledger.listing(database, limit=limit or None, kind=kind)
        except Exception as exc:
            reason = printable(str(exc)).strip()
            raise could_not_run(
                f"cannot read the ledger of database {database!r}: {type(exc).__name__}: {reason}; check "
                f"DATABASES[{database!r}] and that the server is reachable from here"
            ) from exc
        self.emit(result, format=format, output=output, verbosity=options["verbosity"])
