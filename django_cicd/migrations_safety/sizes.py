"""Lock and rewrite findings graded by what the table holds.

A ``CREATE INDEX`` without ``CONCURRENTLY`` on a table of 2 rows takes milliseconds; on 50 million
rows it is an outage. When the analysis runs with a database, the size of each table a lock or
rewrite finding names is read through the vendor adapter (PostgreSQL's statistics, MariaDB/MySQL's
``information_schema``, an exact count on SQLite) and the finding graded: under
``CICD["MIGRATION_SAFETY"]["SMALL_TABLE_ROWS"]`` rows a warning, from it an error, the size in the
message either way. A size nobody knows leaves the finding an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

from django_cicd.conf import cicd_settings
from django_cicd.migrations_safety.findings import SafetyFinding
from django_cicd.migrations_safety.rules import PREFIX, RULES
from django_cicd.report import Severity
from django_cicd.vendors import TableSize, UnsupportedVendor, adapter

#: The finding's ``extra`` key holding the name the table had before the plan (where its size is read).
ORIGIN = "table_origin"
#: Findings of this rule are only kept for a large table (a data migration on a small one is normal).
ONLY_LARGE = frozenset({PREFIX + "data_migration_unbatched"})
#: The smallest space a row takes on disk (PostgreSQL: a 23-byte tuple header and a 4-byte line
#: pointer; InnoDB more): a table of B bytes holds at most B // 27 rows.
MIN_ROW_BYTES = 27

SMALL, LARGE, UNKNOWN = "small", "large", "unknown"


@dataclass(frozen=True)
class Grade:
    grade: str
    #: The words the message ends with, e.g. '"catalog_gadget" holds about 2 rows (16 kB)'.
    words: str
    rows: int | None = None
    bytes: int | None = None


def read_sizes(connection: BaseDatabaseWrapper, tables: Iterable[str]) -> tuple[dict[str, TableSize], str | None]:
    """``{table: TableSize}`` of the tables that exist, and why none was read when the query failed."""
    names = sorted(set(tables))
    if not names:
        return {}, None
    try:
        return adapter(connection).table_sizes(connection, names), None
    except (DatabaseError, UnsupportedVendor) as exc:
        return {}, f"the sizes could not be read ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})"


def grade(table: str, origin: str, size: TableSize | None, threshold: int, vendor: str, note: str | None) -> Grade:
    where = f'"{table}"' if origin == table else f'"{table}" ("{origin}" before this plan)'
    if size is None:
        reason = note or "the table is not in the database"
        return Grade(UNKNOWN, f"size of {where} unknown: {reason}")
    rows, on_disk = size.rows, size.bytes
    disk = f", {human_bytes(on_disk)}" if on_disk is not None else ""
    if rows is None and on_disk is not None and on_disk // MIN_ROW_BYTES < threshold:
        # No statistics yet (PostgreSQL before the first ANALYZE): the bytes bound the rows.
        bound = on_disk // MIN_ROW_BYTES
        return Grade(SMALL, f"{where} holds at most {bound:,} rows by its size on disk{disk}", None, on_disk)
    if rows is None:
        return Grade(UNKNOWN, f"size of {where} unknown: no statistics yet{disk} (run ANALYZE)", None, on_disk)
    about = "" if vendor == "sqlite" else "about "
    words = f"{where} holds {about}{rows:,} row{'' if rows == 1 else 's'}{disk}"
    return Grade(SMALL if rows < threshold else LARGE, words, rows, on_disk)


def apply_grades(
    findings: list[SafetyFinding],
    connection: BaseDatabaseWrapper | None,
    *,
    vendor: str,
    note: str | None = None,
) -> tuple[list[SafetyFinding], dict[str, TableSize], str | None]:
    """Grade the sized findings (severity and message); drop the data-migration ones on small tables.

    ``connection`` None: no size is read (``note`` says why).
    """
    sized = [f for f in findings if RULES[f.rule_id].sized]
    if not sized:
        return findings, {}, None
    sizes: dict[str, TableSize] = {}
    if connection is not None:
        sizes, note = read_sizes(connection, (str(f.extra.get(ORIGIN) or f.table) for f in sized if f.table))
    threshold = cicd_settings.SMALL_TABLE_ROWS
    kept: list[SafetyFinding] = []
    for finding in findings:
        if not RULES[finding.rule_id].sized:
            kept.append(finding)
            continue
        table = finding.table or "?"
        origin = str(finding.extra.pop(ORIGIN, None) or table)
        result = grade(table, origin, sizes.get(origin), threshold, vendor, note)
        if finding.rule_id in ONLY_LARGE and result.grade != LARGE:
            continue
        if result.grade == SMALL:
            finding.severity = Severity.WARNING
            tail = f"{result.words}, under SMALL_TABLE_ROWS ({threshold:,}): a warning"
        else:
            finding.severity = Severity.ERROR
            tail = result.words
        finding.message = f"{finding.message} ({tail}.)"
        finding.extra.update(table_size=result.grade, table_rows=result.rows, table_bytes=result.bytes)
        kept.append(finding)
    return kept, sizes, note


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{value} bytes"  # pragma: no cover (the loop returns)
