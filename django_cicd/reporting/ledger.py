"""The text of ``manage.py releases``: the ledger as a table."""

from __future__ import annotations

from django.core.management.color import Style

from django_cicd import ledger
from django_cicd.release import printable

COLUMNS = ("id", "release", "kind", "status", "started (UTC)", "seconds", "migrations", "backup", "image", "host")


def releases_text(listing: ledger.ReleaseListing, style: Style, verbosity: int = 1) -> str:
    """Every value from the ledger goes through printable(), so none can start a line of its own or move
    the cursor (the JSON document keeps them as recorded, escaped)."""
    if not listing.exists:
        return listing.summary + "\n"
    if not listing.rows:
        return f"no releases recorded in database {listing.database!r}\n"
    table = [COLUMNS]
    for row in listing.rows:
        seconds = (row.finished_at - row.started_at).total_seconds() if row.finished_at else None
        stage = ledger.stage(row)
        table.append(
            (
                str(row.pk),
                printable(row.name)[:40],
                printable(row.kind + (f" ({stage})" if stage else "")),
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
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    errors = [f"  {row.pk}: {printable(row.error).strip()}" for row in listing.rows if row.error]
    if errors:
        lines += ["", "errors:", *errors]
    return "\n".join(lines) + "\n"
