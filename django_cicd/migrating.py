"""The guarded apply behind ``manage.py safe_migrate``: lock, plan, gate, backup, ledger, apply, recover.

:func:`safe_migrate` is the Python API; the command only parses options and renders the
:class:`MigrateResult`. Errors that happen before anything changed raise :class:`CouldNotMigrate`
(exit code 2); a run that started changing the database always returns a result, whose status
says where the database is.
"""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.apps import apps as global_apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

from django_cicd import backups, hooks, ledger, locking, planning
from django_cicd.conf import cicd_settings
from django_cicd.exit_codes import ExitCode
from django_cicd.migrations_safety.analysis import SafetyFinding
from django_cicd.models import Release
from django_cicd.redaction import redact

Progress = Callable[[str, "StepResult"], None]
LEDGER_APP = "django_cicd"


class CouldNotMigrate(Exception):
    """Nothing was changed: bad input, unreachable database, lock not obtained, backup impossible."""


@dataclass
class MigrateOptions:
    database: str = "default"
    release: str | None = None
    image: str | None = None
    environment: str | None = None
    lock_wait: float | None = None
    lock_timeout: float | None = None
    statement_timeout: float | None = None
    backup: bool = True
    force: bool = False
    allow_unsafe: bool = False
    recover: bool = True
    verify_restore: bool = False
    backup_only: bool = False


@dataclass
class StepResult:
    app: str
    name: str
    atomic: bool = True
    status: str = "pending"  # pending, running, applied, failed, reversed
    seconds: float | None = None

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "name": self.name,
            "atomic": self.atomic,
            "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 4),
        }


@dataclass
class MigrateResult:
    #: nothing_to_apply, applied, backup_only, blocked, failed, recovered
    status: str
    database: str
    release: str
    environment: str | None = None
    state_before: dict[str, str | None] = field(default_factory=dict)
    state_after: dict[str, str | None] | None = None
    steps: list[StepResult] = field(default_factory=list)
    backup: backups.BackupInfo | None = None
    ledger_id: int | None = None
    recovery: str | None = None  # reversed, restored, unchanged, none, skipped
    error: str = ""
    notes: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    image: str = ""

    @property
    def exit_code(self) -> int:
        if self.status in {"nothing_to_apply", "applied", "backup_only"}:
            return ExitCode.OK
        return ExitCode.NO

    @property
    def summary(self) -> str:
        applied = sum(1 for s in self.steps if s.status == "applied")
        where = f"database {self.database!r}"
        if self.status == "nothing_to_apply":
            return f"safe_migrate: nothing to apply on {where} (release {self.release})"
        if self.status == "applied":
            return f"safe_migrate: applied {applied} migration(s) on {where} (release {self.release})"
        if self.status == "backup_only":
            return f"safe_migrate: backed up {where} to {self.backup.name if self.backup else '?'}"
        if self.status == "blocked":
            return (
                f"safe_migrate: {len(self.findings)} blocking finding(s) in the plan for {where}; nothing was "
                "changed; fix the migrations, accept the findings in CICD['MIGRATION_SAFETY'], or pass --allow-unsafe"
            )
        if self.status == "recovered":
            return f"safe_migrate FAILED on {where} and {where} is back at its state before the run ({self.recovery})"
        return f"safe_migrate FAILED on {where}; {where} was NOT brought back: see 'where the database is' above"

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "django-cicd/safe_migrate",
            "version": 1,
            "status": self.status,
            "exit_code": self.exit_code,
            "database": self.database,
            "release": self.release,
            "environment": self.environment,
            "image": self.image or None,
            "state_before": self.state_before,
            "state_after": self.state_after,
            "plan": [s.as_dict() for s in self.steps],
            "backup": self.backup.as_dict() if self.backup else None,
            "ledger_id": self.ledger_id,
            "recovery": self.recovery,
            "error": self.error,
            "notes": self.notes,
            "findings": self.findings,
            "seconds": round(self.seconds, 4),
            "summary": self.summary,
        }


def safe_migrate(options: MigrateOptions, progress: Progress | None = None) -> MigrateResult:
    """Apply the pending migrations of ``options.database`` the safe way; see the module docstring."""
    started = time.monotonic()
    alias = options.database
    if alias not in connections.settings:
        raise CouldNotMigrate(f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections.settings)}")
    environment = options.environment or cicd_settings.ENVIRONMENT
    if not options.backup and not options.force and environment in cicd_settings.PRODUCTION_ENVIRONMENTS:
        raise CouldNotMigrate(
            f"--no-backup is refused in the {environment!r} environment: without a backup a failed migration "
            "cannot be undone; drop --no-backup, or add --force if another backup was taken just now"
        )
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except Exception as exc:
        raise CouldNotMigrate(
            f"cannot connect to database {alias!r} ({connection.vendor}): {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}; check DATABASES[{alias!r}] and that "
            "the server is reachable from here"
        ) from exc
    release_name = ledger.detect_release_name(options.release)
    image_repository, image_digest = ledger.parse_image(options.image or _env_image())
    image_note = ""
    if image_repository and not image_digest:
        from django_cicd import containers

        image_repository, image_digest, image_note = containers.pin(image_repository)
    result = MigrateResult(status="failed", database=alias, release=release_name, environment=environment)
    if image_note:
        result.notes.append(image_note)
    result.image = f"{image_repository}@{image_digest}" if image_digest else image_repository
    if release_name == ledger.UNNAMED:
        result.notes.append(
            "no release name given (--release, SENTRY_RELEASE, GITHUB_SHA, CI_COMMIT_SHA, SOURCE_VERSION, "
            "HEROKU_SLUG_COMMIT, K_REVISION or a REVISION file): recorded as 'unnamed'"
        )
    run_id = uuid.uuid4().hex
    hooks.send_safely(
        hooks.run_started, "safe_migrate", run_id=run_id, release=release_name, environment=environment, database=alias
    )
    error: BaseException | None = None
    try:
        wait = cicd_settings.LOCK_WAIT if options.lock_wait is None else options.lock_wait
        holder = {"host": _hostname(), "pid": _pid(), "release": release_name}
        try:
            with locking.deploy_lock(alias, wait=wait, holder_info=holder), terminate_as_exit():
                _run_locked(options, result, (image_repository, image_digest), progress)
        except locking.LockNotAcquired as exc:
            raise CouldNotMigrate(str(exc)) from exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        result.seconds = time.monotonic() - started
        code = ExitCode.COULD_NOT_RUN if isinstance(error, CouldNotMigrate) else result.exit_code
        if error is not None and not isinstance(error, CouldNotMigrate):
            code = ExitCode.NO
        hooks.send_safely(
            hooks.run_finished,
            "safe_migrate",
            run_id=run_id,
            release=release_name,
            environment=environment,
            database=alias,
            ok=error is None and code == ExitCode.OK,
            exit_code=int(code),
            error=error if error is not None else (RuntimeError(result.error) if result.error else None),
            summary=redact(str(error) if isinstance(error, CouldNotMigrate) else result.summary),
            details={"status": result.status, "ledger_id": result.ledger_id},
        )
    return result


def _env_image() -> str:
    import os

    return os.environ.get(cicd_settings.IMAGE_VARIABLE, "")


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _pid() -> int:
    import os

    return os.getpid()


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM (a cancelled CI job, a stopping container) unwinds like Ctrl-C, so recovery runs."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def current_state(alias: str) -> dict[str, str | None]:
    loader = planning.load_graph()
    return planning.state_from_applied(loader, planning.applied_migrations(alias))


def _executor(connection: BaseDatabaseWrapper, callback: Callable[..., None] | None = None) -> MigrationExecutor:
    executor = MigrationExecutor(connection, cast(Any, callback))
    try:
        executor.loader.check_consistent_history(connection)
    except InconsistentMigrationHistory as exc:
        raise CouldNotMigrate(f"the migration history of database {connection.alias!r} is inconsistent: {exc}") from exc
    return executor


def _state(executor: MigrationExecutor) -> dict[str, str | None]:
    return planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})


def _ledger_ready(alias: str, plan: list[tuple[Migration, bool]]) -> bool:
    """The Release table matches the model once none of django_cicd's migrations is pending."""
    return not any(m.app_label == LEDGER_APP for m, _ in plan) and ledger.table_exists(alias)


def _run_locked(
    options: MigrateOptions, result: MigrateResult, image: tuple[str, str], progress: Progress | None
) -> None:
    alias = options.database
    connection = connections[alias]
    _recover_interrupted(options, result)
    executor = _executor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    result.state_before = _state(executor)
    result.steps = [StepResult(m.app_label, m.name, atomic=m.atomic) for m, _ in plan]
    unknown = planning.unknown_applied(executor.loader, executor.loader.applied_migrations or {})
    if unknown:
        result.notes.append(
            f"the database has {len(unknown)} migration(s) this code does not have (first: "
            f"{unknown[0][0]}.{unknown[0][1]}): the code is older than the database"
        )
    if not plan and not options.backup_only:
        result.status = "nothing_to_apply"
        result.state_after = result.state_before
        _record_nothing_to_apply(options, result, image)
        return
    if plan and not options.backup_only and not _gate(plan, alias, options.allow_unsafe, result):
        result.status = "blocked"
        return
    if options.backup or options.backup_only:
        result.backup = _backup(options, result)
    else:
        result.notes.append("no backup taken (--no-backup): a failure can only be undone by reversing migrations")
    if options.backup_only:
        result.status = "backup_only"
        result.state_after = result.state_before
        return
    tables_before = set(connection.introspection.table_names())
    ready = _ledger_ready(alias, plan)
    row = ledger.start_release(
        name=result.release,
        kind="deploy",
        database=alias,
        state_before=result.state_before,
        plan=[s.as_dict() for s in result.steps],
        image_repository=image[0],
        image_digest=image[1],
        environment=result.environment,
        save=False,
    )
    if result.backup:
        _set_backup_fields(row, result.backup)
    # Kept so that the run after a SIGKILL can drop what this run created before it restores the backup.
    row.details = {"tables_before": sorted(tables_before)}
    row.status = "migrating"
    if ready:
        row.save(using=alias)
    result.ledger_id = row.pk
    failure = _apply(connection, executor, plan, result, row, options, progress)
    if failure is None:
        result.status = "applied"
        result.state_after = current_state(alias)
        _save_row(row, alias, result)
        ledger.finish_release(
            row,
            status="succeeded",
            state_after=result.state_after,
            plan=[s.as_dict() for s in result.steps],
        )
        result.ledger_id = row.pk
        return
    failed_step, exc = failure
    result.error = redact(f"{failed_step.label}: {type(exc).__name__}: {exc}")
    if options.recover:
        _recover(connection, result, tables_before, failed_step, progress)
    else:
        result.recovery = "skipped"
        result.notes.append("--no-recover: the database was left as the failed run left it")
    result.state_after = current_state(alias)
    back = result.state_after == result.state_before and result.recovery not in {"skipped", "none"}
    result.status = "recovered" if back else "failed"
    if not back:
        result.notes.append(_where_the_database_is(result, failed_step))
    _save_row(row, alias, result)
    if ledger.is_saved(row):
        ledger.finish_release(
            row,
            status="recovered" if back else "failed",
            state_after=result.state_after,
            error=result.error,
            plan=[s.as_dict() for s in result.steps],
        )
        result.ledger_id = row.pk
    else:
        result.notes.append("the ledger table does not exist in this database (yet), so this run is not recorded there")
    if not isinstance(exc, Exception):
        raise exc


def _set_backup_fields(row: Release, info: backups.BackupInfo) -> None:
    row.backup_name = info.name
    row.backup_sha256 = info.sha256
    row.backup_size = info.size
    row.backup_storage = info.storage
    row.backup_compressed = info.compressed
    row.backup_encrypted = info.encrypted


def _save_row(row: Release, alias: str, result: MigrateResult) -> None:
    """Make sure the row is in the table: it may have been kept in memory, or a restore removed it."""
    if not ledger.table_exists(alias):
        row.pk = None
        return
    if row.pk is not None and Release.objects.using(alias).filter(pk=row.pk).exists():
        return
    row.pk = None  # a restore brought back the table as it was: take a fresh id
    row.save(using=alias)


def _record_nothing_to_apply(options: MigrateOptions, result: MigrateResult, image: tuple[str, str]) -> None:
    """Every deploy's state goes to the ledger, once: replicas of the same release share one row."""
    alias = options.database
    if not ledger.table_exists(alias):
        return
    latest = ledger.current_release(alias)
    if (
        latest is not None
        and latest.name == result.release
        and latest.state_after == result.state_before
        and (latest.image_repository, latest.image_digest) == image
    ):
        result.ledger_id = latest.pk
        result.notes.append(f"release {result.release} is already recorded for this state (ledger row {latest.pk})")
        return
    row = ledger.start_release(
        name=result.release,
        kind="deploy",
        database=alias,
        state_before=result.state_before,
        plan=[],
        image_repository=image[0],
        image_digest=image[1],
        environment=result.environment,
    )
    ledger.finish_release(row, status="succeeded", state_after=result.state_before)
    result.ledger_id = row.pk


def _gate(plan: list[tuple[Migration, bool]], alias: str, allow_unsafe: bool, result: MigrateResult) -> bool:
    """The migration safety analysis; False when it blocks the run."""
    from django_cicd.migrations_safety import analyse_plan

    steps = [planning.PlanStep(migration, backwards) for migration, backwards in plan]
    report = analyse_plan(steps, database=alias)
    blocking = report.blocking
    result.findings = [_finding_dict(f) for f in blocking]
    if not blocking:
        return True
    if allow_unsafe:
        result.notes.append(f"--allow-unsafe: {len(blocking)} blocking finding(s) accepted for this run")
        return True
    return False


def _finding_dict(finding: SafetyFinding) -> dict[str, Any]:
    return {
        "rule": finding.rule_id,
        "migration": finding.migration_label,
        "operation": finding.operation,
        "message": redact(finding.message),
        "hint": redact(finding.hint),
        "table": finding.table,
        "column": finding.column,
    }


def _backup(options: MigrateOptions, result: MigrateResult) -> backups.BackupInfo:
    alias = options.database
    try:
        backups.storage()
        info = backups.take_backup(
            alias,
            release=result.release,
            state=result.state_before,
            compress=cicd_settings.BACKUP_COMPRESS,
            encrypt=cicd_settings.BACKUP_ENCRYPT,
        )
        backups.verify_backup(info)
    except (backups.BackupError, backups.BackupNotReady) as exc:
        raise CouldNotMigrate(f"{exc}; nothing was migrated") from exc
    if options.verify_restore:
        from django_cicd import rehearsal

        try:
            rehearsal.verify_restore(alias, info)
        except rehearsal.RehearsalError as exc:
            raise CouldNotMigrate(f"the backup {info.name} does not restore: {exc}; nothing was migrated") from exc
        result.notes.append(f"--verify-restore: {info.name} restored into a scratch database and was dropped")
    return info


@contextlib.contextmanager
def session_timeouts(
    connection: BaseDatabaseWrapper, lock_timeout: float | None, statement_timeout: float | None
) -> Iterator[None]:
    """``lock_timeout`` / ``statement_timeout`` (PostgreSQL), ``lock_wait_timeout`` / ``max_statement_time``
    (MariaDB) or ``max_execution_time`` (MySQL) for the session that migrates; SQLite has neither."""
    statements: list[tuple[str, list[Any]]] = []
    resets: list[str] = []
    if connection.vendor == "postgresql":
        if lock_timeout is not None:
            statements.append(("SELECT set_config('lock_timeout', %s, false)", [f"{int(lock_timeout * 1000)}ms"]))
            resets.append("RESET lock_timeout")
        if statement_timeout is not None:
            statements.append(
                ("SELECT set_config('statement_timeout', %s, false)", [f"{int(statement_timeout * 1000)}ms"])
            )
            resets.append("RESET statement_timeout")
    elif connection.vendor == "mysql":
        if lock_timeout is not None:
            statements.append(("SET SESSION lock_wait_timeout = %s", [max(1, int(lock_timeout))]))
            resets.append("SET SESSION lock_wait_timeout = DEFAULT")
        if statement_timeout is not None:
            if getattr(connection, "mysql_is_mariadb", False):
                statements.append(("SET SESSION max_statement_time = %s", [float(statement_timeout)]))
                resets.append("SET SESSION max_statement_time = DEFAULT")
            else:
                statements.append(("SET SESSION max_execution_time = %s", [int(statement_timeout * 1000)]))
                resets.append("SET SESSION max_execution_time = DEFAULT")
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    try:
        yield
    finally:
        if resets and connection.connection is not None:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                for sql in resets:
                    cursor.execute(sql)


def run_timed(
    connection: BaseDatabaseWrapper,
    executor: MigrationExecutor,
    targets: list[tuple[str, str | None]],
    plan: list[tuple[Migration, bool]],
    steps: Sequence[StepResult],
    *,
    lock_timeout: float | None,
    statement_timeout: float | None,
    on_step: Callable[[str, StepResult], None] | None = None,
    progress: Progress | None = None,
) -> tuple[StepResult, BaseException] | None:
    """Run ``plan`` (all forwards or all backwards) migration by migration under the session timeouts
    (``None``: ``CICD["LOCK_TIMEOUT"]`` / ``CICD["STATEMENT_TIMEOUT"]``), with the migrate signals.

    Each of ``steps`` (the plan's migrations, in order) becomes ``running``, then ``applied`` or
    ``reversed`` with its duration; ``on_step(action, step)`` then ``progress(action, step)`` follow
    every start and success. Returns None, or (the step that failed, its exception) after a failure,
    Ctrl-C and SIGTERM included (the caller recovers or reports, then re-raises what it must).
    """
    verb = "unapply" if plan and plan[0][1] else "apply"
    done = "reversed" if verb == "unapply" else "applied"
    by_key = {(s.app, s.name): s for s in steps}
    started: dict[str, float] = {}
    current: list[StepResult] = []

    def callback(action: str, migration: Migration | None = None, fake: bool = False) -> None:
        step = by_key.get((migration.app_label, migration.name)) if migration is not None else None
        if step is None:
            return
        if action == f"{verb}_start":
            step.status = "running"
            current[:] = [step]
            started[step.label] = time.monotonic()
        elif action == f"{verb}_success":
            step.status = done
            step.seconds = time.monotonic() - started[step.label]
        else:
            return
        if on_step:
            on_step(action, step)
        if progress:
            progress(action, step)

    executor.progress_callback = cast(Any, callback)
    lock_timeout = cicd_settings.LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    statement_timeout = cicd_settings.STATEMENT_TIMEOUT if statement_timeout is None else statement_timeout
    alias = connection.alias
    try:
        with session_timeouts(connection, lock_timeout, statement_timeout):
            emit_pre_migrate_signal(0, False, alias, apps=global_apps, plan=plan)
            executor.migrate(targets, plan=plan)
            emit_post_migrate_signal(0, False, alias, apps=global_apps, plan=plan)
    except BaseException as exc:  # noqa: BLE001 (Ctrl-C and SIGTERM too: the caller handles them)
        step = current[0] if current else steps[0]
        if step.status == "running":
            step.status = "failed"
            step.seconds = time.monotonic() - started.get(step.label, time.monotonic())
        if progress:
            progress(f"{verb}_failed", step)
        return step, exc
    return None


def _apply(
    connection: BaseDatabaseWrapper,
    executor: MigrationExecutor,
    plan: list[tuple[Migration, bool]],
    result: MigrateResult,
    row: Release,
    options: MigrateOptions,
    progress: Progress | None,
) -> tuple[StepResult, BaseException] | None:
    """Apply ``plan`` migration by migration; return (failed step, exception) or None."""
    alias = connection.alias
    steps = {(s.app, s.name): s for s in result.steps}

    def on_step(action: str, step: StepResult) -> None:
        if not ledger.is_saved(row) and action == "apply_success" and _ledger_ready(alias, _pending(plan, steps)):
            row.save(using=alias)  # the ledger table exists now: the row kept in memory goes in
            result.ledger_id = row.pk
        ledger.update_release(row, plan=[s.as_dict() for s in result.steps])

    return run_timed(
        connection,
        executor,
        executor.loader.graph.leaf_nodes(),
        plan,
        result.steps,
        lock_timeout=options.lock_timeout,
        statement_timeout=options.statement_timeout,
        on_step=on_step,
        progress=progress,
    )


def _pending(
    plan: list[tuple[Migration, bool]], steps: dict[tuple[str, str], StepResult]
) -> list[tuple[Migration, bool]]:
    return [(m, b) for m, b in plan if steps[(m.app_label, m.name)].status != "applied"]


def _reversible(migration: Migration) -> bool:
    return all(getattr(operation, "reversible", True) for operation in migration.operations)


def _recover(
    connection: BaseDatabaseWrapper,
    result: MigrateResult,
    tables_before: set[str],
    failed_step: StepResult,
    progress: Progress | None,
) -> None:
    """Bring the database back to ``result.state_before``: reverse what this run applied when the
    failed migration cannot have left anything behind, else restore the backup."""
    alias = connection.alias
    loader = planning.load_graph()
    applied = [s for s in result.steps if s.status == "applied"]
    # Without transactional DDL (MySQL, MariaDB) or in a non-atomic migration, the failed migration may
    # have applied part of its operations: only the backup knows what the database held.
    partial = not (connection.features.can_rollback_ddl and failed_step.atomic)
    migrations = [loader.graph.nodes[(s.app, s.name)] for s in applied]
    if not partial:
        if not applied:
            result.recovery = "unchanged"
            return
        if all(_reversible(m) for m in migrations):
            try:
                _reverse(connection, result, progress)
            except Exception as exc:  # noqa: BLE001 (any failure of the reversal falls back to the backup)
                result.notes.append(redact(f"reversing the applied migrations failed ({type(exc).__name__}: {exc})"))
            else:
                result.recovery = "reversed"
                return
        else:
            names = ", ".join(f"{m.app_label}.{m.name}" for m in migrations if not _reversible(m))
            result.notes.append(f"not reversible: {names}")
    if result.backup is None:
        result.recovery = "none"
        result.notes.append("no backup to restore (--no-backup)")
        return
    try:
        drop_new_tables(connection, tables_before)
        backups.restore_backup(result.backup.name, alias, expected_sha256=result.backup.sha256)
    except (backups.BackupError, DatabaseError) as exc:
        result.recovery = "none"
        result.notes.append(redact(f"restoring the backup failed: {exc}"))
        return
    for step in applied:
        step.status = "reversed"
    result.recovery = "restored"


def _reverse(connection: BaseDatabaseWrapper, result: MigrateResult, progress: Progress | None) -> None:
    steps = {(s.app, s.name): s for s in result.steps}

    def callback(action: str, migration: Migration | None = None, fake: bool = False) -> None:
        if migration is not None and action == "unapply_success":
            step = steps.get((migration.app_label, migration.name))
            if step is not None:
                step.status = "reversed"
                if progress:
                    progress(action, step)

    executor = MigrationExecutor(connection, cast(Any, callback))
    targets = [(app, name) for app, name in result.state_before.items() if app in executor.loader.migrated_apps]
    plan = executor.migration_plan(targets)
    expected = {(s.app, s.name) for s in result.steps if s.status == "applied"}
    planned = {(m.app_label, m.name) for m, backwards in plan if backwards}
    if planned != expected or any(not backwards for _, backwards in plan):
        raise RuntimeError("the reverse plan is not exactly what this run applied")
    executor.migrate(targets, plan=plan)


def drop_new_tables(connection: BaseDatabaseWrapper, tables_before: set[str]) -> list[str]:
    """Drop tables the failed run created: a restore brings back the tables in the backup, not fewer.

    We hold the deploy lock, so the tables that appeared since the run started are the run's own.
    SQLite needs nothing: its restore replaces the whole file.
    """
    if connection.vendor == "sqlite":
        return []
    new = sorted(set(connection.introspection.table_names()) - tables_before)
    if not new:
        return []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in new:
                    cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}")
            finally:
                cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in new:
                cursor.execute(f"DROP TABLE IF EXISTS {quote(table)} CASCADE")
    return new


def _where_the_database_is(result: MigrateResult, failed_step: StepResult) -> str:
    applied = [s.label for s in result.steps if s.status == "applied"]
    text = (
        f"where the database is: {planning.format_state(result.state_after or {})}; this run applied "
        f"{', '.join(applied) or 'nothing'} and failed in {failed_step.label}"
    )
    if not (failed_step.atomic and connections[result.database].features.can_rollback_ddl):
        text += ", which may have left part of its operations applied"
    if result.backup:
        text += (
            f"; to go back to the state before the run: manage.py dbrestore --database {result.database} "
            f"--input-filename {result.backup.name} --noinput (sha256 {result.backup.sha256})"
        )
    return text


def _recover_interrupted(options: MigrateOptions, result: MigrateResult) -> None:
    """Rows left pending or migrating belong to runs that died (we hold the lock): close them, and
    restore their backup when the migration they were in may have left part of itself applied."""
    alias = options.database
    connection = connections[alias]
    for row in ledger.unfinished_releases(alias):
        running = [s for s in row.plan if isinstance(s, dict) and s.get("status") == "running"]
        partial = bool(running) and not (connection.features.can_rollback_ddl and all(s.get("atomic") for s in running))
        where = planning.format_state(current_state(alias))
        label = ", ".join(f"{s.get('app')}.{s.get('name')}" for s in running) or "no migration"
        message = (
            f"interrupted: the run of release {row.name} (pid {row.pid} on {row.host}) stopped in {label} "
            f"without finishing; found by a later run, the database was at {where}"
        )
        if partial and row.backup_name and options.recover:
            try:
                tables_before = row.details.get("tables_before") if isinstance(row.details, dict) else None
                if isinstance(tables_before, list):
                    drop_new_tables(connection, set(tables_before))
                backups.restore_backup(row.backup_name, alias, expected_sha256=row.backup_sha256)
            except (backups.BackupError, DatabaseError) as exc:
                raise CouldNotMigrate(
                    f"a previous run of release {row.name} was killed inside {label}, which may be half applied, "
                    f"and restoring its backup {row.backup_name} failed: {exc}"
                ) from exc
            row.status = "recovered"
            row.error = f"{message}; its backup {row.backup_name} was restored"
            row.finished_at = _now()
            row.pk = None  # the restored table no longer holds the row
            if ledger.table_exists(alias):
                row.save(using=alias)
            result.notes.append(row.error)
            continue
        if partial:
            message += f"; {label} may be half applied and there is no backup to restore"
        ledger.update_release(row, status="failed", error=message, finished_at=_now())
        result.notes.append(message)


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


@dataclass
class PlannedRun:
    database: str
    state: dict[str, str | None]
    steps: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "django-cicd/safe_migrate",
            "version": 1,
            "status": "planned",
            "exit_code": 0,
            "database": self.database,
            "state_before": self.state,
            "plan": self.steps,
        }


def describe_plan(alias: str, *, with_sql: bool = False) -> PlannedRun:
    """What safe_migrate would apply on ``alias`` (and the SQL of each migration); changes nothing."""
    if alias not in connections.settings:
        raise CouldNotMigrate(f"unknown database alias {alias!r}; DATABASES has: {', '.join(connections.settings)}")
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except Exception as exc:
        raise CouldNotMigrate(
            f"cannot connect to database {alias!r} ({connection.vendor}): {type(exc).__name__}; check "
            f"DATABASES[{alias!r}] and that the server is reachable from here"
        ) from exc
    executor = _executor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    steps: list[dict[str, Any]] = []
    for migration, backwards in plan:
        step: dict[str, Any] = {
            "app": migration.app_label,
            "name": migration.name,
            "atomic": migration.atomic,
            "reversible": _reversible(migration),
        }
        if with_sql:
            step["sql"] = [redact(str(s)) for s in executor.loader.collect_sql([(migration, backwards)])]
        steps.append(step)
    return PlannedRun(alias, _state(executor), steps)
