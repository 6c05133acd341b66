"""Scratch copies of a database, and the rehearsal of a plan on one (``safe_migrate --rehearse``).

A rehearsal never touches its target. It copies the target (the vendor adapter's scratch database:
PostgreSQL ``CREATE DATABASE ... TEMPLATE`` when nobody else is connected, SQLite the backup API,
otherwise a fresh backup restored through django-dbbackup, which also proves that the backup
restores), then, as Django's test runner does with its test databases, repoints every alias whose
settings reach the target (and every alias that names one of those as its ``TEST["MIRROR"]``) to the
copy: ``NAME`` changed in place, connections closed and opened again on first use. A data migration
that writes through the default manager, ``django.db.connection`` or a router therefore writes to the
copy. While the plan runs forward, backward (the rollback path) and forward again, a
``connection_created`` receiver checks every new connection: one that reaches the target (by its
settings, or by the server's own identity where the server tells it) is refused and fails the
rehearsal. The aliases are restored in a ``finally``, after a failure or a signal (SIGTERM and SIGINT
end the rehearsal like a failed phase, with exit 1 and the report).

Scratch copies are named by the vendor adapter (``<database>_cicd_scratch_<pid>``,
``<file>.cicd-scratch-<pid>.sqlite3``) and dropped in a ``finally``; a run killed with SIGKILL leaves one
behind, which the next rehearsal of the same database removes under the rehearsal lock.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

from django_cicd import backups, children, locking, planning, vendors
from django_cicd.conf import cicd_settings
from django_cicd.redaction import redact
from django_cicd.results import envelope

#: What a test mirror takes from the target when it is repointed: everything that says where to connect.
CONNECTION_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


class RehearsalError(Exception):
    """The scratch copy could not be made (nothing was changed on the target)."""


class TargetTouched(RehearsalError):
    """A connection to the target was opened during the rehearsal (it was refused)."""


def scratch_name(alias: str) -> str:
    """The name of this process's scratch copy of ``alias``."""
    return vendors.adapter_for(alias).scratch_name(connections[alias], str(os.getpid()))


def drop_leftovers(alias: str) -> list[str]:
    """Drop scratch copies of ``alias`` left by killed runs. Call it with the rehearsal lock held."""
    adapter = vendors.adapter_for(alias)
    dropped = adapter.list_scratch(alias)
    for name in dropped:
        adapter.drop_scratch(alias, name)
    return dropped


# --- repointing ---------------------------------------------------------------------------------


def aliases_on(alias: str) -> tuple[list[str], list[str]]:
    """The aliases whose settings reach the database of ``alias`` (``alias`` first), and the aliases
    that name one of them as their ``TEST["MIRROR"]`` (a replica of it, as Django's test runner sees it)."""
    adapter = vendors.adapter_for(alias)
    target = connections[alias].settings_dict
    same = [alias]
    for other, settings_dict in connections.settings.items():
        if other == alias or not adapter.same_database(settings_dict, target):
            continue
        if _adapter_of(other) is adapter:
            same.append(other)
    mirrors = [
        other
        for other, settings_dict in connections.settings.items()
        if other not in same
        and (settings_dict.get("TEST") or {}).get("MIRROR") in same
        and _adapter_of(other) is adapter
    ]
    return same, mirrors


def _adapter_of(alias: str) -> vendors.Vendor | None:
    try:
        return vendors.adapter_for(alias)
    except vendors.UnsupportedVendor:
        return None


def _settings_dicts(alias: str) -> list[dict[str, Any]]:
    """Every dict that holds the settings of ``alias``: DATABASES' entry, the connection handler's and the
    connection's (one object, unless something replaced one of them)."""
    found: list[dict[str, Any]] = []
    for candidate in (
        settings.DATABASES.get(alias),
        connections.settings.get(alias),
        connections[alias].settings_dict,
    ):
        if isinstance(candidate, dict) and all(candidate is not seen for seen in found):
            found.append(candidate)
    return found


_MISSING = object()


@contextlib.contextmanager
def repointed(alias: str, database: str) -> Iterator[list[str]]:
    """Point every alias that reaches the database of ``alias`` (and their test mirrors) at ``database``
    for the ``with`` block; yield their names. Restored afterwards, whatever ends the block.

    As Django's test runner does: ``settings_dict["NAME"]`` changed in place (so connections opened by
    other threads follow), each connection closed so that it opens again on the new database, and
    what the backend keeps per alias about the old one forgotten (a connection pool, type OIDs).
    """
    adapter = vendors.adapter_for(alias)
    source = copy.deepcopy(connections[alias].settings_dict)
    same, mirrors = aliases_on(alias)
    changes: dict[str, dict[str, Any]] = {name: {"NAME": database} for name in same}
    for name in mirrors:
        changes[name] = {key: source[key] for key in CONNECTION_KEYS if key in source} | {"NAME": database}
    saved: list[tuple[dict[str, Any], str, Any]] = []
    try:
        for name, values in changes.items():
            adapter.disconnect(connections[name])
            for settings_dict in _settings_dicts(name):
                for key, value in values.items():
                    saved.append((settings_dict, key, settings_dict.get(key, _MISSING)))
                    settings_dict[key] = copy.deepcopy(value)
        yield list(changes)
    finally:
        for name in changes:
            with contextlib.suppress(Exception):  # a broken session must not keep the alias on the copy
                adapter.disconnect(connections[name])
        for settings_dict, key, value in reversed(saved):
            if value is _MISSING:
                settings_dict.pop(key, None)
            else:
                settings_dict[key] = value


class TargetGuard:
    """A ``connection_created`` receiver that refuses any new connection to the target.

    A connection reaches the target when its settings say so (the adapter's ``same_database``), or when
    the server says so: its identity (PostgreSQL's system identifier and database, MariaDB's server uid
    and schema) equals the target's. The connection is closed and :class:`TargetTouched` raised, and the
    attempt is recorded, so the rehearsal fails even when the code that connected swallows the error.
    """

    def __init__(self, alias: str, target: Mapping[str, Any], identity: Mapping[str, str]) -> None:
        self.alias = alias
        self.adapter = vendors.adapter_for(alias)
        self.target = dict(target)
        self.identity = dict(identity)
        self.touched: list[dict[str, str]] = []

    def __call__(self, sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
        try:
            if vendors.adapter(connection) is not self.adapter:
                return
        except vendors.UnsupportedVendor:
            return
        how = ""
        if self.adapter.same_database(connection.settings_dict, self.target):
            how = "its settings name the target"
        elif self.identity and all(self.identity.values()):
            try:
                if self.adapter.identity(connection) == self.identity:
                    how = "the server says it is the target"
            except DatabaseError:
                pass  # the identity cannot be read on this connection: its settings decided above
        if not how:
            return
        where = f"alias {connection.alias!r}"
        if connection.alias == NO_DB_ALIAS:
            where = "a connection made outside DATABASES"
        entry = {"alias": connection.alias, "how": how}
        if entry not in self.touched:
            self.touched.append(entry)
        with contextlib.suppress(Exception):
            connection.close()
        raise TargetTouched(
            f"the rehearsal refused a connection to its target database {self.alias!r} through {where} ({how}); "
            f"a rehearsal must not touch its target: point that code at the migrating connection "
            f"(schema_editor.connection) or give the alias the same HOST, PORT and NAME as {self.alias!r} so "
            "that it is repointed to the copy"
        )


@contextlib.contextmanager
def guarding(alias: str, target: Mapping[str, Any], identity: Mapping[str, str]) -> Iterator[TargetGuard]:
    guard = TargetGuard(alias, target, identity)
    connection_created.connect(guard, weak=False, dispatch_uid=f"django-cicd rehearsal guard {id(guard)}")
    try:
        yield guard
    finally:
        connection_created.disconnect(dispatch_uid=f"django-cicd rehearsal guard {id(guard)}")


# --- scratch copies -----------------------------------------------------------------------------


@dataclass
class ScratchCopy:
    alias: str  # repointed to the copy while the copy exists
    name: str
    method: str
    repointed: list[str]


def _restore_into(alias: str, info: backups.BackupInfo) -> None:
    """Restore ``info`` into the database ``alias`` points at now, through django-dbbackup's connector."""
    from dbbackup import utils
    from dbbackup.db.base import get_connector

    backend = backups.storage()
    with backups.dbbackup_leaks_files(), backups.verified_copy(backend, info.name, info.sha256) as data:
        # Read once, streamed, its sha256 checked: what is restored is what the ledger recorded.
        if info.encrypted:
            data, _ = utils.unencrypt_file(data, info.name)
        if info.compressed:
            data, _ = utils.uncompress_file(data, info.name)
        data.seek(0)
        try:
            get_connector(alias).restore_dump(data)
        finally:
            data.close()


@contextlib.contextmanager
def scratch_copy(
    alias: str, *, backup: backups.BackupInfo | None = None, release: str = "rehearsal"
) -> Iterator[ScratchCopy]:
    """A scratch copy of ``alias``, with ``alias`` and every alias on the same database repointed to it
    for the ``with`` block; dropped afterwards.

    With ``backup``, the copy is that backup restored (``--verify-restore``); otherwise the adapter
    copies the database where it can (PostgreSQL ``TEMPLATE``, SQLite's backup API), and a fresh
    backup is restored where it cannot.
    """
    adapter = vendors.adapter_for(alias)
    name = scratch_name(alias)
    fresh_backup: backups.BackupInfo | None = None
    try:
        same, _mirrors = aliases_on(alias)
        for other in same:  # a TEMPLATE copy needs a target without sessions of ours
            adapter.disconnect(connections[other])
        method = adapter.create_scratch(alias, name, template=backup is None)
        if not method:
            if backup is None:
                state = planning.state_from_applied(planning.load_graph(), planning.applied_migrations(alias))
                backup = fresh_backup = backups.take_backup(alias, release=release, state=state)
                method = f"fresh backup {backup.name} restored"
            else:
                method = f"backup {backup.name} restored"
        with repointed(alias, name) as aliases:
            if backup is not None:
                _restore_into(alias, backup)
            yield ScratchCopy(alias, name, method, aliases)
    except (OSError, DatabaseError, backups.BackupError, backups.BackupNotReady) as exc:
        raise RehearsalError(redact(f"the scratch copy of database {alias!r} could not be made: {exc}")) from exc
    finally:
        if fresh_backup is not None:  # taken only to make the copy
            backups.discard(backups.storage(), fresh_backup.name)
        with contextlib.suppress(OSError, DatabaseError):
            adapter.drop_scratch(alias, name)


def verify_restore(alias: str, info: backups.BackupInfo) -> None:
    """Restore ``info`` into a scratch database and check the migration state it holds."""
    with scratch_copy(alias, backup=info) as scratch:
        state = planning.state_from_applied(planning.load_graph(), planning.applied_migrations(scratch.alias))
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
    status: str = "pending"  # ok, failed, irreversible, interrupted
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


PHASES = ("forward", "backward", "forward_again")


@dataclass
class RehearsalReport:
    database: str
    vendor: str
    copy_method: str = ""
    state_before: dict[str, str | None] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    leftovers_dropped: list[str] = field(default_factory=list)
    copy_seconds: float = 0.0
    #: The aliases that pointed at the copy during the rehearsal.
    repointed: list[str] = field(default_factory=list)
    #: Connections to the target that were refused: [{"alias", "how"}].
    target_connections: list[dict[str, str]] = field(default_factory=list)
    #: "signal 15" when a signal ended the rehearsal.
    interrupted: str = ""

    @property
    def failed(self) -> list[str]:
        return [f"{s.app}.{s.name}" for p in self.phases for s in p.steps if s.status == "failed"]

    @property
    def irreversible(self) -> list[str]:
        return [f"{s.app}.{s.name}" for p in self.phases for s in p.steps if s.status == "irreversible"]

    @property
    def ok(self) -> bool:
        """The deploy and its rollback path work: every phase ran, no migration failed, the target was
        not touched.

        An irreversible migration fails the backward phase: rolling this release back would need
        the backup, and the report says which migration it is.
        """
        return (
            bool(self.phases)
            and all(p.ok and not p.skipped for p in self.phases)
            and not self.target_connections
            and not self.interrupted
        )

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
        if self.interrupted:
            parts.append(f"interrupted by {self.interrupted}")
        if self.target_connections:
            aliases = ", ".join(sorted({repr(t["alias"]) for t in self.target_connections}))
            parts.append(
                f"it connected to the target database (through {aliases}; the connection was refused): "
                "that code would change the target when rehearsed"
            )
        if self.failed:
            parts.append(f"failed: {', '.join(self.failed)}")
        if self.irreversible:
            parts.append(f"cannot be reversed: {', '.join(self.irreversible)}")
        return f"rehearsal FAILED on a copy of {where}: {'; '.join(parts) or 'a phase did not run'}"

    command: ClassVar[str] = "safe_migrate"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            **envelope(
                "safe_migrate-rehearsal",
                command=self.command,
                status="passed" if self.ok else "failed",
                exit_code=self.exit_code,
                summary=self.summary,
            ),
            "ok": self.ok,
            "database": self.database,
            "vendor": self.vendor,
            "copy_method": self.copy_method,
            "copy_seconds": round(self.copy_seconds, 4),
            "repointed": self.repointed,
            "state_before": self.state_before,
            "phases": [p.as_dict() for p in self.phases],
            "failed": self.failed,
            "irreversible": self.irreversible,
            "target_connections": self.target_connections,
            "interrupted": self.interrupted,
            "expected_seconds": round(self.expected_seconds, 4),
            "leftovers_dropped": self.leftovers_dropped,
        }

    def render_text(self) -> str:
        lines = [f"rehearsal of database {self.database!r} ({self.vendor}) on a scratch copy ({self.copy_method})"]
        lines.extend(f"  dropped leftover scratch copy {name}" for name in self.leftovers_dropped)
        if self.repointed:
            lines.append(f"  aliases on the copy: {', '.join(self.repointed)}")
        for phase in self.phases:
            state = "skipped" if phase.skipped else ("ok" if phase.ok else "FAILED")
            lines.append(f"  {phase.name}: {state} ({phase.seconds:.3f}s)")
            for step in phase.steps:
                seconds = f"{step.seconds:8.3f}s" if step.seconds is not None else " " * 9
                locks = f"  locks: {', '.join(step.locks)}" if step.locks else ""
                lines.append(f"    {step.status:<12} {seconds}  {step.app}.{step.name}{locks}")
                if step.error:
                    lines.append(f"      {step.error}")
        for touched in self.target_connections:
            lines.append(f"  refused a connection to the target through alias {touched['alias']!r} ({touched['how']})")
        lines.append(self.summary)
        return "\n".join(lines) + "\n"


def _run_phase(
    connection: BaseDatabaseWrapper,
    phase: Phase,
    targets: list[tuple[str, str | None]] | None,
    progress: Callable[[str], None] | None,
) -> None:
    """Migrate ``connection`` to ``targets`` (the leaves when None), recording each step in ``phase``.

    A failing migration is a finding (the phase fails); a signal marks the step interrupted and ends the
    rehearsal (KeyboardInterrupt goes on).
    """
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
                progress(f"  {phase.name}: {step.app}.{step.name} ({step.seconds:.3f}s)")

    def record_lock(entry: str) -> None:
        if current and entry not in current[0].locks:
            current[0].locks.append(entry)

    def fail(status: str, error: str) -> None:
        phase.ok = False
        phase.error = error
        if current:
            step = current[0]
            step.status = status
            step.error = error
            step.seconds = time.monotonic() - started.get((step.app, step.name), time.monotonic())

    executor = MigrationExecutor(connection, cast(Any, callback))
    leaves = targets if targets is not None else executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(leaves)
    observer = vendors.adapter(connection).lock_observer(connection, record_lock)
    wrapper = connection.execute_wrapper(observer) if observer is not None else contextlib.nullcontext()
    try:
        with wrapper:
            executor.migrate(leaves, plan=plan)
    except KeyboardInterrupt as exc:
        fail("interrupted", f"interrupted by {exc or 'a signal'}")
        raise
    except Exception as exc:  # noqa: BLE001 (every failure of a migration is a finding of the rehearsal)
        from django.db.migrations.exceptions import IrreversibleError

        fail("irreversible" if isinstance(exc, IrreversibleError) else "failed", redact(f"{type(exc).__name__}: {exc}"))


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, a stopping container) and SIGINT raise KeyboardInterrupt("signal N"),
    so the rehearsal unwinds: aliases restored, the copy dropped, the report written."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous: dict[signal.Signals, Any] = {}
    try:
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _identity(alias: str) -> dict[str, str]:
    try:
        return vendors.adapter_for(alias).identity(connections[alias])
    except DatabaseError:
        return {}


def rehearse(
    alias: str, *, lock_wait: float | None = None, progress: Callable[[str], None] | None = None
) -> RehearsalReport:
    """Rehearse the pending plan of ``alias`` on a scratch copy; the target is never changed."""
    if alias not in connections.settings:
        raise RehearsalError(f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections.settings)}")
    connection = connections[alias]
    try:
        vendors.adapter(connection)
    except vendors.UnsupportedVendor as exc:
        raise RehearsalError(str(exc)) from exc
    try:
        connection.ensure_connection()
    except Exception as exc:
        raise RehearsalError(
            f"cannot connect to database {alias!r} ({connection.vendor}): {type(exc).__name__}; check "
            f"DATABASES[{alias!r}] and that the server is reachable from here"
        ) from exc
    report = RehearsalReport(alias, connection.vendor)
    target = copy.deepcopy(connection.settings_dict)
    identity = _identity(alias)
    wait = cicd_settings.LOCK_WAIT if lock_wait is None else lock_wait
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "release": "rehearsal"}
    with signals_interrupt():
        try:
            with locking.named_lock(alias, "rehearsal", wait=wait, holder_info=holder, maintenance=True):
                report.leftovers_dropped = drop_leftovers(alias)
                started = time.monotonic()
                with scratch_copy(alias) as scratch:
                    report.copy_seconds = time.monotonic() - started
                    report.copy_method = scratch.method
                    report.repointed = scratch.repointed
                    with guarding(alias, target, identity) as guard:
                        try:
                            _rehearse_on(connections[alias], report, progress)
                        except TargetTouched:
                            pass  # refused outside a migration (reading the copy's state): the guard noted it
                        finally:
                            report.target_connections = guard.touched
        except locking.LockNotAcquired as exc:
            raise RehearsalError(str(exc)) from exc
        except KeyboardInterrupt as exc:
            report.interrupted = str(exc) or "a signal"
        finally:
            children.reap()  # a dump or restore client making the copy must not outlive the rehearsal
    done = {p.name for p in report.phases}
    report.phases.extend(Phase(name, skipped=True) for name in PHASES if name not in done)
    return report


def _rehearse_on(
    connection: BaseDatabaseWrapper, report: RehearsalReport, progress: Callable[[str], None] | None
) -> None:
    """Forward, backward to the state before, forward again, on ``connection`` (repointed to the copy)."""
    report.state_before = planning.state_from_applied(
        planning.load_graph(), planning.applied_migrations(connection.alias)
    )
    targets: list[tuple[str, str | None]] = list(report.state_before.items())
    for name, phase_targets in zip(PHASES, (None, targets, None), strict=True):
        phase = Phase(name)
        report.phases.append(phase)
        if not report.phases[0].ok:
            phase.skipped = True
            continue
        _run_phase(connection, phase, phase_targets, progress)
