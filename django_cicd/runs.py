"""The one guarded run behind ``safe_migrate`` and ``rollback_release``.

A :class:`Run` takes a :class:`Job` (what safe_migrate or rollback_release wants done) and does
everything around it, the same way for both:

1. check the options (an alias that exists, finite timeouts), connect, refuse ``--no-backup`` in
   production;
2. take the deploy lock (waiting can be interrupted by a signal) and keep verifying it: a heartbeat
   thread, a check before every migration, before its record and before any statement 50 ms after
   the last check, so a lost lock stops
   the run at once;
3. find rows of runs that never finished: never touched while their database session is alive;
   otherwise their half-applied step is undone, operation by operation;
4. let the job plan under the lock (it may stop there: nothing to do, blocked, refused);
5. take and verify the backup, open a ledger row;
6. let the job change the database through :meth:`Run.migrate` (migration by migration, timed,
   under the session timeouts, guarded) or a restore;
7. on failure, recover: undo the operations of the failed migration that ran, drop what it created
   (compared on the catalog), reverse the migrations this run completed, and judge "back" on the
   migration state *and* the catalog. Nobody else's writes are discarded: a restore of the backup
   over the live database happens only with ``restore_on_failure``;
8. SIGTERM and SIGINT stop the run after the current statement, end dump and restore clients, and
   the run reports (exit 1); the ledger row always says what happened.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from django.apps import apps as global_apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import ModelState, ProjectState

from django_cicd import backups, children, events, hooks, ledger, planning, vendors
from django_cicd.conf import cicd_settings, is_production
from django_cicd.exit_codes import ExitCode
from django_cicd.models import Release
from django_cicd.redaction import redact
from django_cicd.results import envelope
from django_cicd.vendors import Catalog, HeldLock, LockLost

#: django_cicd's own app is never reversed by a run: its table holds the ledger the run writes to.
LEDGER_APP = "django_cicd"
#: A statement is run without asking the server about the lock again when it asked this recently
#: (seconds); a migration's start and its record in django_migrations (its commit point) always ask.
GUARD_INTERVAL = 0.05
#: The catalog objects each ledger row records (``details["objects_before"]``), so that a later
#: restore of the backup taken with it can drop what came after.
TOP_LEVEL = ("table", "view", "sequence")

Progress = Callable[[str, "StepResult"], None]


class CouldNotRun(Exception):
    """Nothing was changed: bad input, unreachable database, lock not obtained, backup impossible (exit 2)."""


class RunStopped(Exception):
    """A signal asked the run to stop: raised before the next statement."""


class CannotRecover(Exception):
    """Recovery cannot bring the database back by itself; the message says what is in the way."""


# --- options ----------------------------------------------------------------------------------------


def check_seconds(option: str, value: float | None, *, zero_allowed: bool = False) -> float | None:
    """``value`` when it is a finite number of seconds (positive, or zero when allowed); else CouldNotRun."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CouldNotRun(f"{option} must be a finite number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not zero_allowed):
        least = "0 or more" if zero_allowed else "more than 0"
        raise CouldNotRun(f"{option} must be {least} seconds, not {value:g}")
    return float(value)


@dataclass
class RunOptions:
    database: str = "default"
    environment: str | None = None
    lock_wait: float | None = None
    lock_timeout: float | None = None
    statement_timeout: float | None = None
    backup: bool = True
    force: bool = False
    recover: bool = True
    #: When recovery cannot bring the database back, restore the backup over it (every write made
    #: since the backup is lost): only when asked for.
    restore_on_failure: bool = False
    verify_restore: bool = False

    def check(self) -> None:
        check_seconds("--lock-wait", self.lock_wait, zero_allowed=True)
        check_seconds("--lock-timeout", self.lock_timeout)
        check_seconds("--statement-timeout", self.statement_timeout)


def connect(alias: str) -> BaseDatabaseWrapper:
    """The connection of ``alias``, connected; CouldNotRun (exit 2) when it does not exist or answer."""
    if alias not in connections.settings:
        raise CouldNotRun(f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections.settings)}")
    connection = connections[alias]
    try:
        vendors.adapter(connection)
        connection.ensure_connection()
    except vendors.UnsupportedVendor as exc:
        raise CouldNotRun(str(exc)) from exc
    except Exception as exc:
        raise CouldNotRun(
            f"cannot connect to database {alias!r} ({connection.vendor}): {type(exc).__name__}: "
            f"{vendors.base.first_line(exc)}; check DATABASES[{alias!r}] and that the server is reachable from here"
        ) from exc
    return connection


def executor_for(connection: BaseDatabaseWrapper) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    try:
        executor.loader.check_consistent_history(connection)
    except InconsistentMigrationHistory as exc:
        raise CouldNotRun(f"the migration history of database {connection.alias!r} is inconsistent: {exc}") from exc
    return executor


def current_state(alias: str) -> dict[str, str | None]:
    return planning.state_from_applied(planning.load_graph(), planning.applied_migrations(alias))


def normalised(state: Mapping[str, Any] | None) -> dict[str, Any]:
    """A state without unapplied apps and the ledger's own app, for comparisons."""
    return {app: name for app, name in (state or {}).items() if name and app != LEDGER_APP}


def reversible(migration: Migration) -> bool:
    return all(getattr(operation, "reversible", True) for operation in migration.operations)


def partial_capable(connection: BaseDatabaseWrapper, migration: Migration) -> bool:
    """Whether a failure inside ``migration`` can leave part of it applied: no transactional DDL
    (MySQL, MariaDB) or a non-atomic migration."""
    return not (connection.features.can_rollback_ddl and migration.atomic)


# --- signals -----------------------------------------------------------------------------------------


class SignalWatch:
    """SIGTERM and SIGINT during a run: counted, never raised at a random point.

    The run stops before its next statement (see :meth:`Run._guard`); dump clients are ended at the
    first signal (they only read), restore clients at the second (a restore stopped halfway leaves a
    half-restored database, so the first signal lets the current one finish).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, command: str = "django-cicd") -> None:
        self.command = command
        self.count = 0
        self.names: list[str] = []
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        import sys

        self.count += 1
        name = signal.Signals(signum).name
        self.names.append(name)
        if self.count == 1:
            ended = children.terminate([children.DUMP])
            message = "stopping after the current statement; a second signal also ends a restore in progress"
        else:
            ended = children.terminate([children.DUMP, children.RESTORE])
            message = "stopping after the current statement and ending any restore in progress"
        if ended:
            message += f" (ended client process {', '.join(map(str, ended))})"
        events.emit("run.signal", logging.WARNING, signal=name, note=message)
        if not events.json_on_stderr():  # there the event says it, as a JSON line
            # Said at once, on stderr: whoever stops a deploy sees that it was heard.
            sys.stderr.write(f"{self.command}: {name} received: {message}\n")
            sys.stderr.flush()

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalWatch]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals can only be handled in the main thread: leave them alone
            return
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)

    def describe(self) -> str:
        return " then ".join(self.names) or "a signal"


# --- steps, operations, failures -----------------------------------------------------------------------


@dataclass
class StepResult:
    app: str
    name: str
    atomic: bool = True
    #: pending, running, applied, reversed, faked (recorded or unrecorded only: --fake, --fake-initial),
    #: failed, undone (by recovery)
    status: str = "pending"
    seconds: float | None = None
    backwards: bool = False

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.name)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "app": self.app,
            "name": self.name,
            "atomic": self.atomic,
            "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
        }
        if self.backwards:
            data["backwards"] = True
        return data


class OperationTracker:
    """Which operations of each migration ran to the end, in this run.

    Each top-level operation's ``database_forwards`` / ``database_backwards`` is wrapped on the
    instance for the duration of the run (the class's method is untouched), so that recovery knows
    exactly what a migration that failed halfway did.
    """

    def __init__(self, plan: Sequence[tuple[Migration, bool]], on_done: Callable[[Migration, int], None]) -> None:
        self.plan = plan
        self.on_done = on_done
        self.done: dict[tuple[str, str], list[int]] = {}
        self._wrapped: list[tuple[Any, str]] = []

    def _wrap(self, migration: Migration, index: int, operation: Any, method: str) -> None:
        original = getattr(operation, method)
        key = (migration.app_label, migration.name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = original(*args, **kwargs)
            self.done.setdefault(key, []).append(index)
            self.on_done(migration, index)
            return value

        setattr(operation, method, wrapper)
        self._wrapped.append((operation, method))

    def __enter__(self) -> OperationTracker:
        for migration, backwards in self.plan:
            method = "database_backwards" if backwards else "database_forwards"
            for index, operation in enumerate(migration.operations):
                self._wrap(migration, index, operation, method)
        return self

    def __exit__(self, *exc: object) -> None:
        for operation, method in self._wrapped:
            with contextlib.suppress(AttributeError):
                delattr(operation, method)
        self._wrapped.clear()


@dataclass
class Failure:
    """Where and how a change stopped."""

    step: StepResult | None
    error: BaseException
    #: Indices of the failed migration's operations that ran to the end (empty for a whole step).
    operations_done: list[int] = field(default_factory=list)
    #: The catalog right before the failed migration started (for migrations that can half-apply).
    catalog_before_step: Catalog | None = None
    kind: str = "error"  # error, lock_timeout, lock_lost, interrupted

    def describe(self) -> str:
        where = self.step.label if self.step else "the run"
        return redact(f"{where}: {type(self.error).__name__}: {vendors.base.first_line(self.error)}")


# --- results -------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What a run did, for every command that changes a database: rendered as text or JSON."""

    command: ClassVar[str] = ""
    status: str
    database: str
    release: str = ""
    environment: str | None = None
    image: str = ""
    state_before: dict[str, str | None] = field(default_factory=dict)
    state_after: dict[str, str | None] | None = None
    steps: list[StepResult] = field(default_factory=list)
    backup: backups.BackupInfo | None = None
    ledger_id: int | None = None
    #: unchanged, reversed, not_back, skipped, restored, none (nothing to bring back)
    recovery: str | None = None
    recovery_steps: list[StepResult] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: The signals that stopped the run, when one did ("SIGTERM", "SIGTERM then SIGINT").
    stopped_by: str | None = None
    lock_lost: str | None = None
    #: The run's lock verifications: (how many, their total seconds, how many the heartbeat made).
    lock_checks: tuple[int, float, int] = (0, 0.0, 0)

    OK_STATUSES: ClassVar[frozenset[str]] = frozenset()

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.status in self.OK_STATUSES else ExitCode.NO

    @property
    def summary(self) -> str:
        """One line: what the run did. Each command's result says the rest its own way."""
        if self.status == "stopped":
            return (
                f"{self.command} stopped by {self.stopped_by or 'a signal'} on database {self.database!r}; "
                "nothing was changed"
            )
        return self.describe()

    def describe(self) -> str:  # pragma: no cover (each command's result says it)
        return f"{self.command}: {self.status} on database {self.database!r}"

    def note(self, text: str) -> None:
        text = redact(text)
        if text not in self.notes:
            self.notes.append(text)

    def common_dict(self, schema: str) -> dict[str, Any]:
        return {
            **envelope(
                schema, command=self.command, status=self.status, exit_code=self.exit_code, summary=self.summary
            ),
            "database": self.database,
            "release": self.release,
            "environment": self.environment,
            "image": self.image or None,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "backup": self.backup.as_dict() if self.backup else None,
            "ledger_id": self.ledger_id,
            "recovery": self.recovery,
            "recovery_steps": [s.as_dict() for s in self.recovery_steps],
            "error": self.error,
            "stopped_by": self.stopped_by,
            "lock_lost": self.lock_lost,
            "seconds": round(self.seconds, 4),
            "lock_checks": {
                "count": self.lock_checks[0],
                "seconds": round(self.lock_checks[1], 6),
                "heartbeats": self.lock_checks[2],
            },
        }


# --- the job a command hands the engine ----------------------------------------------------------------


class Job:
    """What a command wants done under the lock. Subclasses: safe_migrate's and rollback_release's."""

    command: ClassVar[str] = ""
    kind: ClassVar[str] = Release.Kind.DEPLOY
    #: What --no-backup costs, for its refusal in production.
    without_backup: ClassVar[str] = "the change cannot be undone"

    def new_result(self, run: Run) -> RunResult:  # pragma: no cover (abstract)
        raise NotImplementedError

    def release_name(self) -> str:
        return ""

    def before_lock(self, run: Run) -> None:
        """Checks that need no lock and must come before anything changes (the Docker engine...)."""

    def prepare(self, run: Run) -> bool:  # pragma: no cover (abstract)
        """Plan under the lock. Return False when the run stops here (the result says why)."""
        raise NotImplementedError

    def backup_release(self) -> str:
        return self.release_name()

    def row(self, run: Run) -> dict[str, Any]:
        """The fields of the ledger row: name, image, target, details."""
        return {"name": self.release_name()}

    def change(self, run: Run) -> Failure | None:  # pragma: no cover (abstract)
        raise NotImplementedError

    def after_success(self, run: Run) -> str:
        """Work after the database change succeeded (the image switch); returns an error or ""."""
        return ""

    def hook_details(self) -> dict[str, Any]:
        return {}


# --- the run -------------------------------------------------------------------------------------------


class Run:
    def __init__(self, options: RunOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.progress = progress
        self.alias = options.database
        self.signals = SignalWatch()
        self.lock: HeldLock | None = None
        self.connection: BaseDatabaseWrapper  # set by execute(), once the alias is known to exist
        self.vendor: vendors.Vendor | None = None
        self.result: RunResult = None  # type: ignore[assignment]
        self.row: Release | None = None
        self.job: Job | None = None
        self.catalog_before: Catalog | None = None
        self._guarding = False
        self._phase_mark = 0
        self._last_verify = 0.0
        self._changing = False
        self._step_info: dict[str, Any] | None = None
        self._left_half_applied: dict[str, Any] | None = None
        self._tripped = False

    # -- the whole run ------------------------------------------------------------------------------------
    def execute(self, job: Job) -> RunResult:
        """Run ``job``; see the module docstring. Raises CouldNotRun (exit 2) when nothing was changed
        because the run could not start; every other outcome is the returned result."""
        started = time.monotonic()
        self.job = job
        self.signals.command = job.command
        self.options.check()
        self.connection = connect(self.alias)
        self.vendor = vendors.adapter(self.connection)
        environment = self.options.environment or cicd_settings.ENVIRONMENT
        if not self.options.backup and not self.options.force and is_production(environment):
            raise CouldNotRun(
                f"--no-backup is refused in the {environment!r} environment: without a backup {job.without_backup}; "
                "drop --no-backup, or add --force if another backup was taken just now"
            )
        self.result = job.new_result(self)
        self.result.environment = environment
        job.before_lock(self)
        run_id = events.run_id()
        release = job.release_name() or None  # a rollback's is known once it has planned
        scope = {"run_id": run_id, "release": release, "environment": environment, "database": self.alias}
        events.emit("run.started", **scope, kind=str(job.kind))
        hooks.send_safely(
            hooks.run_started,
            job.command,
            run_id=run_id,
            release=job.release_name(),
            environment=environment,
            database=self.alias,
        )
        error: BaseException | None = None
        try:
            with self.signals.installed(), events.context(**scope):
                self._locked(job)
        except BaseException as exc:
            error = exc
            raise
        finally:
            ended = children.reap()
            if ended:
                self.result.note(f"ended {len(ended)} dump/restore client process(es) still running: {ended}")
            self.result.seconds = time.monotonic() - started
            if self.lock is not None:
                self.result.lock_checks = (self.lock.checks, self.lock.check_seconds, self.lock.heartbeats)
            code = ExitCode.COULD_NOT_RUN if isinstance(error, CouldNotRun) else self.result.exit_code
            if error is not None and not isinstance(error, CouldNotRun):
                code = ExitCode.NO
            hooks.send_safely(
                hooks.run_finished,
                job.command,
                run_id=run_id,
                release=job.release_name(),
                environment=environment,
                database=self.alias,
                ok=error is None and code == ExitCode.OK,
                exit_code=int(code),
                error=error if error is not None else (RuntimeError(self.result.error) if self.result.error else None),
                summary=redact(str(error) if isinstance(error, CouldNotRun) else self.result.summary),
                details={**job.hook_details(), "status": self.result.status, "ledger_id": self.result.ledger_id},
            )
            events.emit(
                "run.finished",
                logging.INFO if code == ExitCode.OK else logging.ERROR,
                **{**scope, "release": job.release_name(), **job.hook_details()},
                status="could_not_run" if isinstance(error, CouldNotRun) else self.result.status,
                exit_code=int(code),
                recovery=self.result.recovery,
                ledger_id=self.result.ledger_id,
                seconds=round(self.result.seconds, 4),
                error=str(error) if error is not None else (self.result.error or None),
            )
        return self.result

    def _locked(self, job: Job) -> None:
        assert self.vendor is not None
        wait = cicd_settings.LOCK_WAIT if self.options.lock_wait is None else self.options.lock_wait
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "release": job.release_name() or job.command}
        asked = time.monotonic()
        try:
            self.lock = self.vendor.acquire_lock(
                self.alias, "deploy", wait=wait, info=holder, interrupted=lambda: self.signals.count > 0
            )
        except vendors.LockNotAcquired as exc:
            events.emit("lock.not_acquired", logging.WARNING, waited_seconds=round(time.monotonic() - asked, 4))
            raise CouldNotRun(str(exc)) from exc
        except vendors.LockWaitInterrupted:
            self._stopped_before_change("while it waited for the deploy lock")
            return
        events.emit("lock.acquired", waited_seconds=round(time.monotonic() - asked, 4))
        try:
            self.lock.start_heartbeat(cicd_settings.LOCK_HEARTBEAT, on_lost=self._on_lock_lost)
            self._go(job)
        finally:
            self.lock.release()
            self.result.lock_lost = self.result.lock_lost or self.lock.lost

    def _go(self, job: Job) -> None:
        self._recover_interrupted()
        prepared = job.prepare(self)
        events.update(release=job.release_name())  # a rollback knows its target release from here on
        if not prepared or self._stop_requested("before anything changed"):
            return
        if self.options.backup and self._wants_backup():
            self.result.backup = self._backup(job)
            if self._stop_requested("during or right after the backup, before anything changed"):
                return
        elif not self.options.backup:
            self.result.note(f"no backup taken (--no-backup): a failed {job.command} can only be undone by reversing")
        self.catalog_before = self.vendor.catalog(self.connection) if self.vendor else None
        fields = job.row(self)
        kind = fields.pop("kind", job.kind)  # safe_migrate to a backward target records a rollback
        details = {
            "session": self.vendor.session_id(self.connection) if self.vendor else {},
            "objects_before": sorted(
                f"{o.kind}:{o.name}"
                for o in (self.catalog_before.objects if self.catalog_before else {})
                if o.kind in TOP_LEVEL
            ),
            **fields.pop("details", {}),
        }
        self.row = ledger.start(
            kind=kind,
            database=self.alias,
            state_before=self.result.state_before,
            plan=[s.as_dict() for s in self.result.steps],
            environment=self.result.environment,
            backup=self.result.backup,
            details=details,
            save=not self._ledger_pending(),
            **fields,
        )
        self.result.ledger_id = self.row.pk
        failure = job.change(self)
        self.result.state_after = current_state(self.alias)
        if failure is None:
            image_error = job.after_success(self)
            self._finish(Release.Status.FAILED if image_error else Release.Status.SUCCEEDED, error=image_error)
            return
        self._failed(failure)

    def _wants_backup(self) -> bool:
        if getattr(self.job, "records_only", False):
            return False  # --fake: only django_migrations rows change, and the ledger row lists them
        return bool(self.result.steps) or bool(getattr(self.job, "changes_without_steps", False))

    # -- backup --------------------------------------------------------------------------------------------
    def _backup(self, job: Job) -> backups.BackupInfo | None:
        try:
            backups.storage()
            info = backups.take_backup(
                self.alias,
                release=job.backup_release(),
                state=self.result.state_before,
                compress=cicd_settings.BACKUP_COMPRESS,
                encrypt=cicd_settings.BACKUP_ENCRYPT,
            )
            # take_backup read the file back from the storage for its sha256: that read is the check.
        except (backups.BackupError, backups.BackupNotReady) as exc:
            if self.signals.count:
                return None  # the signal ended the dump client: the caller reports the stop
            raise CouldNotRun(f"{exc}; nothing was changed") from exc
        if self.options.verify_restore:
            from django_cicd import rehearsal

            try:
                rehearsal.verify_restore(self.alias, info)
            except rehearsal.RehearsalError as exc:
                raise CouldNotRun(f"the backup {info.name} does not restore: {exc}; nothing was changed") from exc
            self.result.note(f"--verify-restore: {info.name} restored into a scratch database and was dropped")
        return info

    # -- signals and the lock ------------------------------------------------------------------------------
    def _stop_requested(self, when: str) -> bool:
        if self.signals.count == 0:
            return False
        self._stopped_before_change(when)
        return True

    def _stopped_before_change(self, when: str) -> None:
        self.result.status = "stopped"
        self.result.stopped_by = self.signals.describe()
        self.result.note(f"stopped by {self.signals.describe()} {when}; nothing was changed")

    def _on_lock_lost(self) -> None:
        # From the heartbeat thread: end the statement the run is in now; the guard stops the rest.
        if self._changing and self.vendor is not None:
            self.vendor.cancel_statement(self.connection)

    def _guard(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Raises once per phase: the statements that follow are Django unwinding what was stopped
        # (a schema editor's constraint check before its rollback), which must run.
        if self._guarding and not self._tripped:
            if self.signals.count > self._phase_mark:
                self._tripped = True
                raise RunStopped(f"stopped by {self.signals.describe()}")
            lock = self.lock
            assert lock is not None
            if lock.lost:
                self._tripped = True
                raise LockLost(lock.lost)
            now = time.monotonic()
            if "django_migrations" in sql.lstrip()[:60] or now - self._last_verify > GUARD_INTERVAL:
                if not lock.verify(thorough=False):
                    self._tripped = True
                    raise LockLost(lock.lost)
                self._last_verify = now
        return execute(sql, params, many, context)

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        """Every statement of the block on the run's connection first checks for a signal and the lock."""
        previous = self._guarding
        self._guarding = True
        self._changing = True
        self._tripped = False
        try:
            with self.connection.execute_wrapper(self._guard):
                yield
        finally:
            self._guarding = previous
            self._changing = previous

    @contextlib.contextmanager
    def unguarded(self) -> Iterator[None]:
        """For the run's own ledger writes inside a guarded block."""
        previous = self._guarding
        self._guarding = False
        try:
            yield
        finally:
            self._guarding = previous

    def check_lock(self) -> None:
        assert self.lock is not None
        self.lock.check()
        self._last_verify = time.monotonic()

    # -- ledger progress -----------------------------------------------------------------------------------
    def _ledger_pending(self) -> bool:
        """A migration of the ledger's own app still to run: its table is not yet what the model says."""
        return any(s.app == LEDGER_APP and s.status in {"pending", "running"} for s in self.result.steps)

    def record_progress(self, **details: Any) -> None:
        if self.row is None:
            return
        with self.unguarded():
            if not ledger.is_saved(self.row):
                if self._ledger_pending() or not ledger.save_when_possible(self.row):
                    if details:
                        self.row.details = {**(self.row.details or {}), **details}
                    return
                self.result.ledger_id = self.row.pk
            fields: dict[str, Any] = {"plan": [s.as_dict() for s in self.result.steps]}
            if details:
                fields["details"] = {**(self.row.details or {}), **details}
            ledger.update(self.row, **fields)

    # -- changing the database -------------------------------------------------------------------------------
    def migrate(
        self,
        executor: MigrationExecutor,
        targets: list[tuple[str, str | None]],
        plan: list[tuple[Migration, bool]],
        steps: Sequence[StepResult],
        *,
        recovering: bool = False,
        fake: bool = False,
        fake_initial: bool = False,
    ) -> Failure | None:
        """Run ``plan`` (all forwards or all backwards) migration by migration, timed, under the session
        timeouts, with the migrate signals, each statement guarded. Returns None, or the Failure.
        ``fake`` and ``fake_initial`` mean what they mean to ``migrate``; a faked step ends ``faked``."""
        assert self.vendor is not None
        backwards = bool(plan) and plan[0][1]
        verb = "unapply" if backwards else "apply"
        done = "reversed" if backwards else "applied"
        by_key = {s.key: s for s in steps}
        started: dict[tuple[str, str], float] = {}
        current: list[StepResult] = []
        catalog_before_step: list[Catalog | None] = [None]
        connection = self.connection

        def callback(action: str, migration: Migration | None = None, faked: bool = False) -> None:
            step = by_key.get((migration.app_label, migration.name)) if migration is not None else None
            if step is None or migration is None:
                return
            if action == f"{verb}_start":
                self.check_lock()  # before every migration, verified, whatever the heartbeat said
                current[:] = [step]
                catalog_before_step[0] = None
                info: dict[str, Any] = {"app": step.app, "name": step.name, "backwards": backwards}
                if partial_capable(connection, migration):
                    with self.unguarded():
                        snapshot = self.vendor.catalog(connection)  # type: ignore[union-attr]
                    catalog_before_step[0] = snapshot
                    info.update(operations_done=[], catalog=snapshot.as_json())
                self._step_info = info
                step.status = "running"
                started[step.key] = time.monotonic()
                if not recovering:
                    self.record_progress(step=info)
            elif action == f"{verb}_success":
                step.status = ("faked" if faked else done) if not recovering else "undone"
                step.seconds = time.monotonic() - started[step.key]
                self._step_event(step, recovering=recovering)
                if not recovering:
                    self.record_progress(step=None)
            else:
                return
            if self.progress:
                self.progress(action, step)

        def operation_done(migration: Migration, index: int) -> None:
            info = self._step_info
            if info is None or "operations_done" not in info or recovering:
                return
            info["operations_done"] = [*info["operations_done"], index]
            self.record_progress(step=info)

        executor.progress_callback = cast(Any, callback)
        lock_timeout = cicd_settings.LOCK_TIMEOUT if self.options.lock_timeout is None else self.options.lock_timeout
        statement_timeout = (
            cicd_settings.STATEMENT_TIMEOUT
            if self.options.statement_timeout is None
            else self.options.statement_timeout
        )
        tracker = OperationTracker(plan, operation_done)
        self._phase_mark = self.signals.count
        try:
            with (
                self.vendor.session_timeouts(connection, lock_timeout, statement_timeout),
                self.guarded(),
                tracker,
            ):
                # The signals get the apps migrate gives them (the migration state before and after),
                # so receivers such as contenttypes and auth see the models of the target state; the
                # state comes from the executor's own method, the one migrate calls.
                state = executor._create_project_state(with_applied_migrations=True)  # type: ignore[attr-defined]
                emit_pre_migrate_signal(0, False, self.alias, apps=state.apps, plan=plan)
                state = executor.migrate(targets, plan=plan, state=state.clone(), fake=fake, fake_initial=fake_initial)
                emit_post_migrate_signal(0, False, self.alias, apps=_post_migrate_apps(state), plan=plan)
        except BaseException as exc:  # noqa: BLE001 (every way out is reported; SystemExit is re-raised later)
            step = current[0] if current else None
            if step is not None and step.status == "running":
                step.status = "failed"
                step.seconds = time.monotonic() - started.get(step.key, time.monotonic())
                self._step_event(step, recovering=recovering, error=redact(f"{type(exc).__name__}: {exc}"))
                if self.progress:
                    self.progress(f"{verb}_failed", step)
            failure = Failure(
                step=step if step is not None and step.status == "failed" else None,
                error=exc,
                operations_done=list(tracker.done.get(step.key, [])) if step is not None else [],
                catalog_before_step=catalog_before_step[0],
            )
            failure.kind = self._classify(exc)
            self._reset_connection()
            return failure
        finally:
            self._step_info = None
        return None

    def _step_event(self, step: StepResult, *, recovering: bool, error: str | None = None) -> None:
        """``migration.applied`` (``reversed``, ``faked``, ``undone``, ``failed``): how long it took and the
        locks around it (the session's timeouts, the deploy lock's verifications so far)."""
        events.emit(
            f"migration.{step.status}",
            logging.ERROR if error else logging.INFO,
            migration=step.label,
            backwards=step.backwards,
            atomic=step.atomic,
            seconds=round(step.seconds or 0.0, 4),
            recovering=recovering or None,
            lock_timeout=cicd_settings.LOCK_TIMEOUT if self.options.lock_timeout is None else self.options.lock_timeout,
            statement_timeout=(
                cicd_settings.STATEMENT_TIMEOUT
                if self.options.statement_timeout is None
                else self.options.statement_timeout
            ),
            lock_checks=self.lock.checks if self.lock else None,
            error=error,
        )

    def _reset_connection(self) -> None:
        """After a failed migration: end the transactions Django could not end (a schema editor whose
        clean-up query met a broken transaction never leaves its atomic block), then start a fresh
        session, so recovery starts from a clean connection (constraint checks on, no timeouts)."""
        from django.db import transaction

        connection = self.connection
        with self.unguarded():
            while connection.atomic_blocks:
                transaction.set_rollback(True, using=self.alias)
                with contextlib.suppress(Exception):
                    connection.atomic_blocks[-1].__exit__(None, None, None)
                if connection.atomic_blocks and connection.atomic_blocks[-1] is not None:
                    connection.atomic_blocks.pop()
            connection.close()
            if self.lock is not None and self.lock.lost:
                return  # touch nothing more, not even to say which session is ours now
            with contextlib.suppress(DatabaseError):
                connection.ensure_connection()
                if self.row is not None and self.vendor is not None:
                    session = self.vendor.session_id(connection)
                    self.row.details = {**(self.row.details or {}), "session": session}
                    if ledger.is_saved(self.row):
                        ledger.update(self.row, details=self.row.details)

    def _classify(self, exc: BaseException) -> str:
        assert self.vendor is not None
        if isinstance(exc, LockLost) or (self.lock is not None and self.lock.lost):
            return "lock_lost"
        if isinstance(exc, RunStopped) or self.signals.count > self._phase_mark:
            return "interrupted"
        if self.vendor.is_lock_timeout(exc):
            return "lock_timeout"
        return "error"

    def restore(self, name: str, expected_sha256: str, **kwargs: Any) -> None:
        """Restore backup ``name`` over the database (only when a job or an option asked for it)."""
        self.check_lock()
        for note in backups.restore_backup(name, self.alias, expected_sha256=expected_sha256, **kwargs):
            self.result.note(note)
        self.connection.close()

    # -- failure and recovery --------------------------------------------------------------------------------
    def _failed(self, failure: Failure) -> None:
        result = self.result
        result.error = failure.describe()
        if failure.kind == "lock_timeout":
            result.note(
                f"{failure.step.label if failure.step else 'a statement'} timed out waiting for a table lock "
                "(--lock-timeout): the statement did nothing; something else held the table (a long transaction, "
                "a backup); retry when it is done"
            )
        if failure.kind == "interrupted":
            result.stopped_by = self.signals.describe()
            result.note(
                f"stopped by {self.signals.describe()} during {failure.step.label if failure.step else 'the run'}"
            )
        if failure.kind == "lock_lost":
            result.recovery = "skipped"
            result.lock_lost = self.lock.lost if self.lock else str(failure.error)
            if failure.catalog_before_step is not None and failure.step is not None:
                self._left_half_applied = {
                    "app": failure.step.app,
                    "name": failure.step.name,
                    "backwards": failure.step.backwards,
                    "operations_done": failure.operations_done,
                    "catalog": failure.catalog_before_step.as_json(),
                }
            result.note(
                f"{result.lock_lost}: another run may hold it now, so this run stopped at once and touched nothing "
                "more (no recovery)"
            )
        elif not self.options.recover:
            result.recovery = "skipped"
            result.note("--no-recover: the database was left as the failed run left it")
        else:
            self.recover(failure)
        result.state_after = current_state(self.alias)
        back = result.recovery in {"reversed", "unchanged", "restored"}
        events.emit("recovery.finished", logging.INFO if back else logging.ERROR, recovery=result.recovery)
        result.status = "recovered" if back else "failed"
        if not back:
            result.note(self.where_the_database_is(failure))
        self._finish(Release.Status.RECOVERED if back else Release.Status.FAILED, error=result.error)
        if not isinstance(failure.error, Exception):
            raise failure.error

    def recover(self, failure: Failure) -> None:
        """Bring back what this run changed, and nothing else; see the module docstring."""
        result = self.result
        self._phase_mark = self.signals.count
        events.emit("recovery.started", logging.WARNING, failed=failure.step.label if failure.step else None)
        try:
            self.check_lock()
            undo = self._completed_to_undo()
            self._precheck_undo(failure, undo)
            changed_failed_step = self._undo_failed_step(failure)
            if undo:
                self._undo_completed(undo)
            result.recovery = self._judge() or ("reversed" if undo or changed_failed_step else "unchanged")
        except LockLost as exc:
            result.recovery = "not_back"
            result.lock_lost = str(exc)
            result.note(f"{exc}: recovery stopped at once and touched nothing more")
        except RunStopped:
            result.recovery = "not_back"
            result.note(f"recovery stopped by {self.signals.describe()}")
        except CannotRecover as exc:
            result.recovery = "not_back"
            result.note(str(exc))
        except (DatabaseError, Exception) as exc:  # noqa: BLE001 (any failure of recovery is reported, not raised)
            result.recovery = "not_back"
            result.note(f"recovery failed: {type(exc).__name__}: {vendors.base.first_line(exc)}")
        if result.recovery == "not_back" and self.options.restore_on_failure and result.backup and not self.lock_lost():
            self._restore_on_failure()

    def lock_lost(self) -> bool:
        return self.lock is not None and self.lock.lost is not None

    def _completed_to_undo(self) -> list[StepResult]:
        done = {"applied", "reversed"}
        return [s for s in self.result.steps if s.status in done and s.app != LEDGER_APP]

    def _precheck_undo(self, failure: Failure, undo: list[StepResult]) -> None:
        """Everything recovery must reverse can be reversed: checked before it touches anything."""
        loader = planning.load_graph()
        forward = not any(s.backwards for s in self.result.steps)
        if forward:
            blocked = [s.label for s in undo if not reversible(loader.graph.nodes[s.key])]
            if blocked:
                raise CannotRecover(
                    f"this run applied {', '.join(blocked)}, which cannot be reversed (an operation without a "
                    "reverse), so recovery did not start"
                )
        step = failure.step
        if step is not None and failure.operations_done and forward:
            migration = loader.graph.nodes[step.key]
            stuck = [
                migration.operations[i].describe()
                for i in failure.operations_done
                if not migration.operations[i].reversible
            ]
            if stuck:
                raise CannotRecover(
                    f"{step.label} stopped after running {', '.join(stuck)}, which cannot be reversed, so recovery "
                    "did not start"
                )

    def _undo_failed_step(self, failure: Failure) -> bool:
        """Undo the operations of the failed migration that ran, then drop what it left behind (compared
        with the catalog taken right before it). True when something was changed."""
        step = failure.step
        assert self.vendor is not None
        if step is None or failure.catalog_before_step is None:
            return False  # atomic with transactional DDL: its transaction was rolled back
        loader = planning.load_graph()
        migration = loader.graph.nodes[step.key]
        with self.guarded():
            changed = undo_operations(
                self.connection, loader, migration, failure.operations_done, backwards=step.backwards
            )
            diff = failure.catalog_before_step.diff(self.vendor.catalog(self.connection))
            if diff.added:
                statements = self.vendor.drop_objects(self.connection, self.vendor.catalog(self.connection), diff.added)
                tables = {o.name for o in diff.added if o.kind == "table"}
                named = [o for o in diff.added if o.kind == "table" or o.table not in tables]
                self.result.note(
                    f"dropped what {step.label} created before it failed: {', '.join(o.label for o in named)}"
                )
                changed = changed or bool(statements)
        diff = failure.catalog_before_step.diff(self.vendor.catalog(self.connection))
        if diff.removed or diff.changed:
            raise CannotRecover(
                f"{step.label} failed halfway and what it did cannot be undone object by object ({diff.describe()})"
            )
        step.status = "undone" if changed or failure.operations_done else step.status
        return changed

    def _undo_completed(self, undo: list[StepResult]) -> None:
        """Reverse (or, for a rollback, re-apply) the migrations this run completed."""
        executor = MigrationExecutor(self.connection)
        state_before = self.result.state_before
        targets = [
            (app, state_before.get(app))
            for app in sorted(executor.loader.migrated_apps)
            if app != LEDGER_APP and {s.app for s in undo} & {app}
        ]
        plan = executor.migration_plan(targets)
        planned = {(m.app_label, m.name) for m, _ in plan}
        expected = {s.key for s in undo}
        if planned != expected:
            raise CannotRecover(
                "the plan back to the state before the run is not exactly what this run did "
                f"(planned {len(planned)}, done {len(expected)}); recovery did not start"
            )
        steps = [StepResult(m.app_label, m.name, atomic=m.atomic, backwards=backwards) for m, backwards in plan]
        self.result.recovery_steps = steps
        failure = self.migrate(executor, targets, plan, steps, recovering=True)
        for step in undo:
            if any(s.key == step.key and s.status == "undone" for s in steps):
                step.status = "undone"
        if failure is not None:
            if failure.kind == "lock_lost":
                raise LockLost(self.lock.lost if self.lock else "")
            if failure.kind == "interrupted":
                raise RunStopped()
            raise CannotRecover(f"undoing the run's migrations failed in {failure.describe()}")

    def _judge(self) -> str | None:
        """None when the database is back (migration state and catalog); else "not_back", with a note."""
        assert self.vendor is not None
        state = current_state(self.alias)
        if normalised(state) != normalised(self.result.state_before):
            self.result.note(
                f"the migration state is {planning.format_state(normalised(state))}, not the state before the run"
            )
            return "not_back"
        if self.catalog_before is None:
            return None
        bookkeeping = set(self.vendor.BOOKKEEPING_TABLES)
        diff = self.catalog_before.without_tables(bookkeeping).diff(
            self.vendor.catalog(self.connection).without_tables(bookkeeping)
        )
        if not diff.empty:
            self.result.note(f"the schema differs from the one before the run: {diff.describe()}")
            return "not_back"
        return None

    def _restore_on_failure(self) -> None:
        backup = self.result.backup
        assert backup is not None
        self.result.note(
            f"--restore-on-failure: restoring {backup.name} over database {self.alias!r}; every write made since "
            f"{backup.created_at} is lost"
        )
        try:
            self.restore(backup.name, backup.sha256)
        except (backups.BackupError, DatabaseError, LockLost) as exc:
            self.result.note(f"restoring the backup failed: {exc}")
            return
        self.result.recovery = "restored"

    def where_the_database_is(self, failure: Failure | None) -> str:
        result = self.result
        done = [s.label for s in result.steps if s.status in {"applied", "reversed", "faked"}]
        verb = "reversed" if any(s.backwards for s in result.steps) else "applied"
        text = f"where the database is: {planning.format_state(normalised(result.state_after))}"
        text += f"; this run {verb} {', '.join(done) or 'nothing'}"
        if failure is not None and failure.step is not None:
            text += f" and failed in {failure.step.label}"
            if failure.catalog_before_step is not None and result.recovery != "reversed":
                text += ", which may have left part of itself applied"
        backup = result.backup
        if backup is not None:
            flags = (" --uncompress" if backup.compressed else "") + (" --decrypt" if backup.encrypted else "")
            text += (
                f"; to go back to the state before the run, restore the backup taken just before it (every write "
                f"since then is lost): manage.py dbrestore --database {self.alias} --input-filename {backup.name}"
                f"{flags} --noinput (sha256 {backup.sha256})"
            )
        else:
            text += "; no backup was taken before the run (--no-backup)"
        return text

    def _finish(self, status: str, *, error: str = "") -> None:
        if self.row is None:
            return
        if self.signals.count:
            self.result.stopped_by = self.signals.describe()
        details: dict[str, Any] = {"step": None}
        if self.result.lock_lost:
            details["lock_lost"] = self.result.lock_lost
        if self.result.stopped_by:
            details["stopped_by"] = self.result.stopped_by
        if self.result.recovery:
            details["recovery"] = self.result.recovery
        if self._left_half_applied is not None:
            # The lock was lost inside a migration that can be half applied: this run must not touch
            # it, so the next run (holding the lock, once this one's session is gone) undoes it.
            details["step"] = self._left_half_applied
            details["needs_recovery"] = True
        notes = "; ".join(self.result.notes[-3:]) if status != Release.Status.SUCCEEDED else ""
        full_error = redact("; ".join(part for part in (error, notes) if part))
        ledger.finish(
            self.row,
            status=status,
            state_after=self.result.state_after,
            error=full_error,
            plan=[s.as_dict() for s in self.result.steps],
            details=details,
        )
        self.result.ledger_id = self.row.pk
        if not ledger.is_saved(self.row):
            self.result.note(
                "the ledger table does not exist in this database (yet), so this run is not recorded there"
            )

    # -- runs that never finished -------------------------------------------------------------------------------
    def _recover_interrupted(self) -> None:
        """Rows of runs that did not finish. A row whose database session is still connected belongs to a
        run that is alive (it lost its lock): never touched. Otherwise its half-done migration is undone
        operation by operation and the row closed."""
        assert self.vendor is not None
        for row in ledger.unfinished(self.alias):
            details = row.details if isinstance(row.details, dict) else {}
            session = details.get("session") or {}
            alive = self.vendor.session_alive(self.connection, session) if session else None
            who = f"the run of release {row.name} (pid {row.pid} on {row.host}, ledger row {row.pk})"
            if alive:
                raise CouldNotRun(
                    f"{who} has not finished and its database session is still connected ({_session_text(session)}): "
                    "it lost the deploy lock but may still be changing the database; wait for it to end (or stop it), "
                    "then run again; nothing was done"
                )
            step = details.get("step") if isinstance(details.get("step"), dict) else None
            label = f"{step.get('app')}.{step.get('name')}" if step else "no migration"
            message = (
                f"interrupted: {who} stopped in {label} without finishing; found by a later run, the database was at "
                f"{planning.format_state(normalised(current_state(self.alias)))}"
            )
            if step is not None and "catalog" in step:
                message += self._undo_interrupted_step(row, step, label)
            if details.get("needs_recovery"):
                message = f"{who} lost its deploy lock inside {label} and left it to a later run; " + message
                ledger.update(row, details={**details, "needs_recovery": False})
            ledger.close_interrupted(row, status=Release.Status.FAILED, error=redact(message))
            events.emit("recovery.interrupted_run", logging.WARNING, ledger_id=row.pk, note=message)
            self.result.note(message)

    def _undo_interrupted_step(self, row: Release, step: Mapping[str, Any], label: str) -> str:
        assert self.vendor is not None
        key = (str(step.get("app")), str(step.get("name")))
        backwards = bool(step.get("backwards"))
        applied = planning.applied_migrations(self.alias)
        if (key in applied) != backwards:
            return f"; {label} had finished (it is recorded), so nothing was left half done"
        catalog = Catalog.from_json(step.get("catalog"))
        done = [i for i in step.get("operations_done") or [] if isinstance(i, int)]
        loader = planning.load_graph()
        try:
            if key not in loader.graph.nodes:
                raise CannotRecover(f"{label} is not in this code, so its operations cannot be undone here")
            migration = loader.graph.nodes[key]
            self._phase_mark = self.signals.count
            stuck = [migration.operations[i].describe() for i in done if not migration.operations[i].reversible]
            if stuck and not backwards:
                raise CannotRecover(f"{label} ran {', '.join(stuck)}, which cannot be reversed")
            with self.guarded():
                undo_operations(self.connection, loader, migration, done, backwards=backwards)
                if catalog is not None:
                    diff = catalog.diff(self.vendor.catalog(self.connection))
                    if diff.added:
                        self.vendor.drop_objects(self.connection, self.vendor.catalog(self.connection), diff.added)
            if catalog is not None:
                diff = catalog.diff(self.vendor.catalog(self.connection))
                if diff.removed or diff.changed:
                    raise CannotRecover(f"what {label} did cannot be undone object by object ({diff.describe()})")
        except (CannotRecover, DatabaseError, LockLost, RunStopped) as exc:
            flags = ""
            if row.backup_name:
                flags = (
                    f"; the backup taken before that run: manage.py dbrestore --database {self.alias} --input-filename "
                    f"{row.backup_name} --noinput (every write since then is lost)"
                )
            raise CouldNotRun(
                redact(
                    f"interrupted: the run of release {row.name} (ledger row {row.pk}) was stopped inside {label}, "
                    f"which may be half applied, and undoing it failed: {exc}; where the database is: "
                    f"{planning.format_state(normalised(current_state(self.alias)))}{flags}"
                )
            ) from exc
        return f"; the {len(done)} operation(s) of {label} that had run were undone and what it created was dropped"


def _post_migrate_apps(state: ProjectState) -> Any:
    """The apps of the state after a migration, as ``migrate`` sends them with post_migrate: the models
    that also exist in the code rendered from the code, the others from the migration state."""
    state.clear_delayed_apps_cache()
    state_apps = state.apps
    keys = [(model.app_label, model.name_lower) for model in state_apps.real_models]
    with state_apps.bulk_update():
        for key in keys:
            state_apps.unregister_model(*key)
    state_apps.render_multiple([ModelState.from_model(global_apps.get_model(*key)) for key in keys])
    return state_apps


def _session_text(session: Mapping[str, Any]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in session.items() if value is not None)


def undo_operations(
    connection: BaseDatabaseWrapper, loader: Any, migration: Migration, done: Sequence[int], *, backwards: bool
) -> bool:
    """Undo the operations ``done`` (indices) of ``migration``: reverse them when the migration ran
    forwards, apply them again when it ran backwards. Django's own Migration.unapply/apply do the work,
    on a migration holding just those operations. True when something ran."""
    if not done:
        return False
    operations = list(migration.operations)
    indices = sorted(set(done))
    state = loader.project_state((migration.app_label, migration.name), at_end=False)
    # A migration holding just those operations, so Django's own apply/unapply do the work.
    partial_class = type(
        "Partial", (Migration,), {"operations": [operations[i] for i in indices], "atomic": migration.atomic}
    )
    partial = partial_class(migration.name, migration.app_label)
    if backwards:
        for operation in operations[: min(indices)]:
            operation.state_forwards(migration.app_label, state)
    with connection.schema_editor(atomic=migration.atomic) as editor:
        if backwards:
            partial.apply(state, editor)
        else:
            partial.unapply(state, editor)
    return True
