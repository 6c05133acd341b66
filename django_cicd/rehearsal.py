"""Scratch copies of a database, and the rehearsal of a plan on one (``safe_migrate --rehearse``).

A rehearsal never touches the target: it copies it (PostgreSQL ``CREATE DATABASE ... TEMPLATE`` when
nobody else is connected, otherwise a fresh backup restored through django-dbbackup, which also
proves that the backup restores; MySQL/MariaDB the same restore into a scratch schema; SQLite the
backup API), then runs the plan forward, backward (the rollback path) and forward again, timing each
migration and, on PostgreSQL, noting the locks each one took.

Scratch copies are named ``<database>_cicd_scratch_<pid>`` (``<file>.cicd-scratch-<pid>.sqlite3`` for
SQLite) and dropped in a ``finally``; a run killed with SIGKILL leaves one behind, which the next
rehearsal of the same database removes under the rehearsal lock.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

from django_cicd import backups, locking, planning
from django_cicd.conf import cicd_settings
from django_cicd.redaction import redact

SCRATCH_MARK = "_cicd_scratch_"


class RehearsalError(Exception):
    """The scratch copy could not be made (nothing was changed on the target)."""


def scratch_name(alias: str) -> str:
    settings_dict = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"{settings_dict['NAME']}.cicd-scratch-{os.getpid()}.sqlite3"
    return f"{str(settings_dict['NAME'])[:40]}{SCRATCH_MARK}{os.getpid()}"


@contextlib.contextmanager
def _maintenance_cursor(alias: str) -> Iterator[Any]:
    """A cursor for CREATE/DROP DATABASE: on PostgreSQL from the ``postgres`` database."""
    source = connections[alias]
    wrapper = source.copy(alias=f"{alias}__cicd_maintenance")
    if source.vendor == "postgresql":
        wrapper.settings_dict["NAME"] = "postgres"
    try:
        wrapper.ensure_connection()
        wrapper.set_autocommit(True)
        with wrapper.cursor() as cursor:
            yield cursor
    finally:
        wrapper.close()


def drop_leftovers(alias: str) -> list[str]:
    """Drop scratch copies of ``alias`` left by killed runs. Call it with the rehearsal lock held."""
    connection = connections[alias]
    dropped: list[str] = []
    if connection.vendor == "sqlite":
        for path in glob.glob(f"{glob.escape(str(connection.settings_dict['NAME']))}.cicd-scratch-*.sqlite3"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            dropped.append(path)
        return dropped
    prefix = f"{str(connection.settings_dict['NAME'])[:40]}{SCRATCH_MARK}"
    quote = connection.ops.quote_name
    with _maintenance_cursor(alias) as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix])
        else:
            cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE LEFT(schema_name, %s) = %s",
                [len(prefix), prefix],
            )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
            dropped.append(name)
    return dropped


def _register(alias: str, scratch: str) -> str:
    """A connection to the scratch copy under its own alias, so that RunPython's ``using(alias)`` and
    dbbackup's connectors find it; it is not added to DATABASES."""
    scratch_alias = f"{alias}__cicd_scratch"
    source = connections[alias]
    settings_dict = {**source.settings_dict, "NAME": scratch}
    connections[scratch_alias] = type(source)(settings_dict, alias=scratch_alias)
    return scratch_alias


def _unregister(scratch_alias: str) -> None:
    with contextlib.suppress(Exception):
        connections[scratch_alias].close()
    with contextlib.suppress(AttributeError, KeyError):
        del connections[scratch_alias]


def _restore_into(scratch_alias: str, info: backups.BackupInfo) -> None:
    """Restore ``info`` into the scratch alias through django-dbbackup's connector for it."""
    from dbbackup import utils
    from dbbackup.db.base import get_connector

    backend = backups.storage()
    with backups.dbbackup_leaks_files():
        with backend.open(info.name, "rb") as handle:
            data: Any = utils.create_spooled_temporary_file(fileobj=handle)
        if info.encrypted:
            data, _ = utils.unencrypt_file(data, info.name)
        if info.compressed:
            data, _ = utils.uncompress_file(data, info.name)
        data.seek(0)
        try:
            get_connector(scratch_alias).restore_dump(data)
        finally:
            data.close()


@contextlib.contextmanager
def scratch_copy(
    alias: str, *, backup: backups.BackupInfo | None = None, release: str = "rehearsal"
) -> Iterator[tuple[str, str]]:
    """A scratch copy of ``alias``; yields (its alias, how it was made) and drops it afterwards.

    With ``backup``, the copy is that backup restored (``--verify-restore``); otherwise PostgreSQL
    tries a template copy first.
    """
    connection = connections[alias]
    name = scratch_name(alias)
    quote = connection.ops.quote_name
    scratch_alias = ""
    fresh_backup: backups.BackupInfo | None = None
    try:
        if connection.vendor == "sqlite":
            method = _sqlite_copy(alias, name, backup)
        else:
            method = ""
            with _maintenance_cursor(alias) as cursor:
                if connection.vendor == "postgresql" and backup is None:
                    connection.close()
                    try:
                        cursor.execute(
                            f"CREATE DATABASE {quote(name)} TEMPLATE {quote(connection.settings_dict['NAME'])}"
                        )
                        method = "CREATE DATABASE ... TEMPLATE"
                    except DatabaseError:
                        method = ""
                if not method:
                    cursor.execute(f"CREATE DATABASE {quote(name)}")
            if not method:
                if backup is None:
                    state = planning.state_from_applied(planning.load_graph(), planning.applied_migrations(alias))
                    backup = backups.take_backup(alias, release=release, state=state)
                    fresh_backup = backup
                    method = f"fresh backup {backup.name} restored"
                else:
                    method = f"backup {backup.name} restored"
                scratch_alias = _register(alias, name)
                _restore_into(scratch_alias, backup)
        scratch_alias = scratch_alias or _register(alias, name)
        yield scratch_alias, method
    except (OSError, DatabaseError, backups.BackupError, backups.BackupNotReady) as exc:
        raise RehearsalError(redact(f"the scratch copy of database {alias!r} could not be made: {exc}")) from exc
    finally:
        if scratch_alias:
            _unregister(scratch_alias)
        if fresh_backup is not None:  # taken only to make the copy
            backups.discard(backups.storage(), fresh_backup.name)
        if connection.vendor == "sqlite":
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
        else:
            with contextlib.suppress(DatabaseError), _maintenance_cursor(alias) as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")


def _sqlite_copy(alias: str, path: str, backup: backups.BackupInfo | None) -> str:
    if backup is not None:
        backend = backups.storage()
        with backend.open(backup.name, "rb") as source, open(path, "wb") as target:
            while chunk := source.read(backups.CHUNK):
                target.write(chunk)
        return f"backup {backup.name} restored"
    source_path = connections[alias].settings_dict["NAME"]
    with contextlib.closing(sqlite3.connect(source_path)) as src, contextlib.closing(sqlite3.connect(path)) as dst:
        src.backup(dst)
    return "SQLite backup API"


def _applied(scratch_alias: str) -> set[tuple[str, str]]:
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connections[scratch_alias])
    return set(recorder.applied_migrations()) if recorder.has_table() else set()


def verify_restore(alias: str, info: backups.BackupInfo) -> None:
    """Restore ``info`` into a scratch database and check the migration state it holds."""
    with scratch_copy(alias, backup=info) as (scratch_alias, _method):
        state = planning.state_from_applied(planning.load_graph(), _applied(scratch_alias))
    if state != info.state:
        raise RehearsalError(
            f"the restored copy is at {planning.format_state(state)}, the backup says "
            f"{planning.format_state(info.state)}"
        )


# --- the rehearsal ------------------------------------------------------------------------------


@dataclass
class PhaseStep:
    app: str
    name: str
    seconds: float | None = None
    status: str = "pending"  # ok, failed, irreversible
    locks: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "name": self.name,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
            "status": self.status,
            "locks": self.locks,
            "error": self.error,
        }


@dataclass
class Phase:
    name: str  # forward, backward, forward_again
    steps: list[PhaseStep] = field(default_factory=list)
    ok: bool = True
    skipped: bool = False
    error: str = ""

    @property
    def seconds(self) -> float:
        return sum(s.seconds or 0.0 for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass
class RehearsalReport:
    database: str
    vendor: str
    copy_method: str = ""
    state_before: dict[str, str | None] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    leftovers_dropped: list[str] = field(default_factory=list)
    copy_seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [f"{s.app}.{s.name}" for p in self.phases for s in p.steps if s.status == "failed"]

    @property
    def irreversible(self) -> list[str]:
        return [f"{s.app}.{s.name}" for p in self.phases for s in p.steps if s.status == "irreversible"]

    @property
    def ok(self) -> bool:
        """The deploy and its rollback path work: every phase ran, no migration failed.

        An irreversible migration fails the backward phase: rolling this release back would need
        the backup, and the report says which migration it is.
        """
        return all(p.ok and not p.skipped for p in self.phases)

    @property
    def expected_seconds(self) -> float:
        return self.phases[0].seconds if self.phases else 0.0

    @property
    def summary(self) -> str:
        where = f"database {self.database!r}"
        if self.ok:
            return (
                f"rehearsal PASSED on a copy of {where}: forward, backward and forward again; "
                f"expect about {self.expected_seconds:.2f}s of migrations"
            )
        parts = []
        if self.failed:
            parts.append(f"failed: {', '.join(self.failed)}")
        if self.irreversible:
            parts.append(f"cannot be reversed: {', '.join(self.irreversible)}")
        return f"rehearsal FAILED on a copy of {where}: {'; '.join(parts) or 'a phase did not run'}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "django-cicd/safe_migrate-rehearsal",
            "version": 1,
            "ok": self.ok,
            "database": self.database,
            "vendor": self.vendor,
            "copy_method": self.copy_method,
            "copy_seconds": round(self.copy_seconds, 4),
            "state_before": self.state_before,
            "phases": [p.as_dict() for p in self.phases],
            "failed": self.failed,
            "irreversible": self.irreversible,
            "expected_seconds": round(self.expected_seconds, 4),
            "leftovers_dropped": self.leftovers_dropped,
            "summary": self.summary,
        }

    def render_text(self) -> str:
        lines = [f"rehearsal of database {self.database!r} ({self.vendor}) on a scratch copy ({self.copy_method})"]
        lines.extend(f"  dropped leftover scratch copy {name}" for name in self.leftovers_dropped)
        for phase in self.phases:
            state = "skipped" if phase.skipped else ("ok" if phase.ok else "FAILED")
            lines.append(f"  {phase.name}: {state} ({phase.seconds:.3f}s)")
            for step in phase.steps:
                seconds = f"{step.seconds:8.3f}s" if step.seconds is not None else " " * 9
                locks = f"  locks: {', '.join(step.locks)}" if step.locks else ""
                lines.append(f"    {step.status:<12} {seconds}  {step.app}.{step.name}{locks}")
                if step.error:
                    lines.append(f"      {step.error}")
        lines.append(self.summary)
        return "\n".join(lines) + "\n"


_PG_LOCKS = (
    "SELECT DISTINCT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)


def _phase(
    connection: BaseDatabaseWrapper,
    name: str,
    targets: list[tuple[str, str | None]] | None,
    progress: Callable[[str], None] | None,
) -> Phase:
    phase = Phase(name)
    steps: dict[tuple[str, str], PhaseStep] = {}
    started: dict[tuple[str, str], float] = {}
    current: list[PhaseStep] = []

    def callback(action: str, migration: Migration | None = None, fake: bool = False) -> None:
        if migration is None:
            return
        key = (migration.app_label, migration.name)
        if action in {"apply_start", "unapply_start"}:
            step = steps[key] = PhaseStep(*key)
            phase.steps.append(step)
            current[:] = [step]
            started[key] = time.monotonic()
        elif action in {"apply_success", "unapply_success"}:
            step = steps[key]
            step.seconds = time.monotonic() - started[key]
            step.status = "ok"
            if progress:
                progress(f"  {name}: {step.app}.{step.name} ({step.seconds:.3f}s)")

    def collect_locks(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        value = execute(sql, params, many, context)
        if current and connection.in_atomic_block:
            # A cursor of its own, on the same connection (same transaction, so the same locks): the
            # migration's cursor may still have rows to fetch (INSERT ... RETURNING, a SELECT), which a
            # query on it would replace. The raw DB-API cursor does not pass through this wrapper again.
            with connection.connection.cursor() as cursor:
                cursor.execute(_PG_LOCKS)
                for relname, mode in cursor.fetchall():
                    entry = f"{mode} on {relname}"
                    if entry not in current[0].locks:
                        current[0].locks.append(entry)
        return value

    executor = MigrationExecutor(connection, cast(Any, callback))
    plan = executor.migration_plan(targets if targets is not None else executor.loader.graph.leaf_nodes())
    wrapper = (
        connection.execute_wrapper(collect_locks) if connection.vendor == "postgresql" else contextlib.nullcontext()
    )
    try:
        with wrapper:
            executor.migrate(targets if targets is not None else executor.loader.graph.leaf_nodes(), plan=plan)
    except Exception as exc:  # noqa: BLE001 (every failure of a migration is a finding of the rehearsal)
        from django.db.migrations.exceptions import IrreversibleError

        phase.ok = False
        phase.error = redact(f"{type(exc).__name__}: {exc}")
        if current:
            current[0].status = "irreversible" if isinstance(exc, IrreversibleError) else "failed"
            current[0].error = phase.error
            current[0].seconds = time.monotonic() - started.get((current[0].app, current[0].name), time.monotonic())
    return phase


def rehearse(
    alias: str, *, lock_wait: float | None = None, progress: Callable[[str], None] | None = None
) -> RehearsalReport:
    """Rehearse the pending plan of ``alias`` on a scratch copy; the target is never changed."""
    if alias not in connections.settings:
        raise RehearsalError(f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections.settings)}")
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except Exception as exc:
        raise RehearsalError(
            f"cannot connect to database {alias!r} ({connection.vendor}): {type(exc).__name__}; check "
            f"DATABASES[{alias!r}] and that the server is reachable from here"
        ) from exc
    report = RehearsalReport(alias, connection.vendor)
    wait = cicd_settings.LOCK_WAIT if lock_wait is None else lock_wait
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "release": "rehearsal"}
    try:
        lock = locking.named_lock(alias, "rehearsal", wait=wait, holder_info=holder, maintenance=True)
        with lock:
            report.leftovers_dropped = drop_leftovers(alias)
            started = time.monotonic()
            with scratch_copy(alias) as (scratch_alias, method):
                report.copy_seconds = time.monotonic() - started
                report.copy_method = method
                scratch = connections[scratch_alias]
                loader = planning.load_graph()
                report.state_before = planning.state_from_applied(loader, _applied(scratch_alias))
                targets: list[tuple[str, str | None]] = list(report.state_before.items())
                forward = _phase(scratch, "forward", None, progress)
                report.phases.append(forward)
                backward = (
                    _phase(scratch, "backward", targets, progress) if forward.ok else Phase("backward", skipped=True)
                )
                report.phases.append(backward)
                again = (
                    _phase(scratch, "forward_again", None, progress)
                    if forward.ok
                    else Phase("forward_again", skipped=True)
                )
                report.phases.append(again)
    except locking.LockNotAcquired as exc:
        raise RehearsalError(str(exc)) from exc
    return report
