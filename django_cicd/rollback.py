"""The rollback behind ``manage.py rollback_release``: back to a previous release, schema first, then image.

Python API::

    from django_cicd.rollback import RollbackOptions, plan_rollback, run_rollback

    plan = plan_rollback(RollbackOptions(database="default"))     # changes nothing
    plan.refusals, plan.steps, plan.data_loss, plan.as_dict()
    result = run_rollback(RollbackOptions(database="default", accept_data_loss=True))
    result.status, result.exit_code, result.as_dict()

The target is a release recorded in the ledger (by default the succeeded deploy before the current
one). Two ways back:

- **reverse** (default): the migrations applied since the target are unapplied with *this* code, which
  still has their files. Before anything changes, the whole reverse plan is checked: operations without
  a reverse refuse it, and every column and table the reverse would drop is counted; rows holding data
  refuse it unless ``accept_data_loss``.
- **restore** (``restore_backup``): the backup taken just before the oldest release being undone is
  restored through django-dbbackup, after its sha256 and its recorded migration state are checked.

Either way a verified backup of the database as it is now is taken first (so the rollback itself can
be undone), under the deploy lock, with a ledger row of kind ``rollback``. The image switch (Swarm
service or re-tag, :mod:`django_cicd.containers`) comes only after the database is back.

Errors that happen before anything changed raise :class:`CouldNotRollBack` (exit code 2); a refusal or
a failure is a :class:`RollbackResult` with exit code 1 whose notes say where the database is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.models import NOT_PROVIDED, Value
from django.utils import timezone

from django_cicd import backups, ledger, planning
from django_cicd.conf import cicd_settings
from django_cicd.exit_codes import ExitCode
from django_cicd.models import Release
from django_cicd.redaction import redact
from django_cicd.runs import (
    LEDGER_APP,
    TOP_LEVEL,
    CouldNotRun,
    Failure,
    Job,
    Progress,
    Run,
    RunOptions,
    RunResult,
    StepResult,
    connect,
    executor_for,
    normalised,
)

COMMAND = "rollback_release"

#: rollback_release raises CouldNotRun under this name too.
CouldNotRollBack = CouldNotRun


@dataclass
class RollbackOptions(RunOptions):
    #: A release name or ledger id; None: ``steps`` succeeded deploys back from the current one.
    to: str | None = None
    steps: int = 1
    accept_data_loss: bool = False
    restore_backup: bool = False
    #: Restore a backup taken of another database (--restore-into-other-database).
    restore_into_other_database: bool = False
    docker_service: str | None = None
    docker_image: str | None = None
    docker_tag: str | None = None
    docker_timeout: float = 300.0
    with_sql: bool = False
    #: Asked before a restore (the data written since the backup is lost); None answers yes (--noinput).
    confirm: Callable[[str], bool] | None = None


@dataclass
class DataLoss:
    """A table or column the reverse plan drops, and how many rows hold data there now."""

    migration: str
    operation: str
    table: str
    column: str | None
    rows: int
    #: "non-null" (a column: rows whose value is not NULL and not the column's default) or "rows" (a table).
    counted: str

    @property
    def where(self) -> str:
        return f'"{self.table}"."{self.column}"' if self.column else f'table "{self.table}"'

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.migration,
            "operation": self.operation,
            "table": self.table,
            "column": self.column,
            "rows": self.rows,
            "counted": self.counted,
        }


@dataclass
class RollbackPlan:
    database: str
    vendor: str
    mode: str  # reverse, restore
    state_before: dict[str, str | None]
    current: Release | None = None
    target: Release | None = None
    undone: list[Release] = field(default_factory=list)
    target_state: dict[str, str | None] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    sql: dict[str, list[str]] = field(default_factory=dict)
    data_loss: list[DataLoss] = field(default_factory=list)
    irreversible: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The rollback window (see ReverseChecks.window).
    window: dict[str, Any] | None = None
    restore: Release | None = None  # the undone release whose backup a restore uses
    restore_age: float | None = None  # seconds between that backup and now
    migrations: list[Migration] = field(default_factory=list, repr=False)

    @property
    def refused(self) -> bool:
        return bool(self.refusals)

    @property
    def image(self) -> str:
        return self.target.image if self.target else ""

    @property
    def from_release(self) -> str:
        return self.current.name if self.current else ""

    @property
    def to_release(self) -> str:
        return self.target.name if self.target else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "vendor": self.vendor,
            "mode": self.mode,
            "from_release": _release_dict(self.current),
            "to_release": _release_dict(self.target),
            "undone": [_release_dict(r) for r in self.undone],
            "state_before": self.state_before,
            "target_state": self.target_state,
            "steps": [
                {**s.as_dict(), "backwards": True, **({"sql": self.sql.get(s.label, [])} if self.sql else {})}
                for s in self.steps
            ],
            "data_loss": [d.as_dict() for d in self.data_loss],
            "irreversible": self.irreversible,
            "window": self.window,
            "restore_backup": {
                "release": self.restore.name,
                "name": self.restore.backup_name,
                "sha256": self.restore.backup_sha256,
                "age_seconds": None if self.restore_age is None else round(self.restore_age, 1),
            }
            if self.restore is not None
            else None,
            "image": self.image or None,
            "refusals": self.refusals,
            "notes": self.notes,
        }


def _release_dict(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {
        "id": release.pk,
        "name": release.name,
        "status": release.status,
        "started_at": release.started_at.isoformat() if release.started_at else None,
        "image": release.image or None,
    }


@dataclass
class RollbackResult(RunResult):
    command: ClassVar[str] = COMMAND
    #: planned, nothing_to_do, rolled_back, refused, stopped, failed, recovered
    OK_STATUSES: ClassVar[frozenset[str]] = frozenset({"planned", "nothing_to_do", "rolled_back"})
    plan: RollbackPlan = None  # type: ignore[assignment]
    image_switch: dict[str, Any] | None = None
    #: Where the image is switched: the --docker-service or --docker-image given ("" when neither).
    image_target: str = ""

    @property
    def exit_code(self) -> int:
        if self.status == "planned" and self.plan.refused:
            return ExitCode.NO
        return super().exit_code

    def describe(self) -> str:
        plan = self.plan
        where = f"database {plan.database!r}"
        to = f"release {plan.to_release}" if plan.to_release else "the previous release"
        if self.status == "planned":
            verb = "would be refused" if plan.refused else "would run"
            return f"rollback_release --plan: the rollback of {where} to {to} {verb}; nothing was changed"
        if self.status == "refused":
            return f"rollback_release REFUSED on {where}: {plan.refusals[0] if plan.refusals else self.error}"
        if self.status == "nothing_to_do":
            return f"rollback_release: {where} is already at the state of {to}; nothing was reversed"
        if self.status == "rolled_back":
            how = (
                f"restored the backup {plan.restore.backup_name}"
                if plan.mode == "restore" and plan.restore
                else f"reversed {sum(1 for s in plan.steps if s.status == 'reversed')} migration(s)"
            )
            image = ""
            if self.image_switch:
                image = f"; {self.image_switch.get('summary')}"
            return f"rollback_release: {where} is back at {to} ({how}){image}"
        if self.status == "recovered":
            return (
                f"rollback_release FAILED on {where} and {where} is back where it was before the rollback "
                f"({self.recovery}): {self.error or 'see the notes above'}"
            )
        return f"rollback_release FAILED on {where}: {self.error or 'see the notes above'}"

    def as_dict(self) -> dict[str, Any]:
        common = self.common_dict("rollback_release")
        return {
            **common,
            **self.plan.as_dict(),
            "state_before": self.plan.state_before,
            "image_switch": self.image_switch,
            "notes": [*self.plan.notes, *self.notes],
        }


# --- planning ------------------------------------------------------------------------------------


def _find_target(options: RollbackOptions) -> Release:
    alias = options.database
    wanted = (options.to or "").strip()
    found = ledger.find_deploy(alias, wanted)
    if found is None:
        raise CouldNotRollBack(
            f"no succeeded deploy named {wanted!r} (or with that ledger id) in the ledger of database {alias!r}; "
            f"recent ones: {', '.join(ledger.recent_names(alias)) or 'none'} (manage.py releases --database {alias})"
        )
    return found


def _count(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _constant_default(operation: Any, connection: BaseDatabaseWrapper) -> tuple[bool, Any]:
    """(True, value) when the AddField gives its column one constant default: rows still holding it hold
    no data of their own."""
    if not isinstance(operation, ops.AddField):
        return False, None
    field_ = operation.field
    value: Any = NOT_PROVIDED
    if isinstance(field_.db_default, Value):
        value = field_.db_default.value
    elif field_.db_default is not NOT_PROVIDED and not hasattr(field_.db_default, "resolve_expression"):
        value = field_.db_default
    elif field_.has_default() and not callable(field_.default):
        value = field_.default
    if value is NOT_PROVIDED or value is None:
        return False, None
    try:
        return True, field_.get_db_prep_value(value, connection)
    except Exception:  # noqa: BLE001 (a default that cannot be prepared: count every non-NULL value)
        return False, None


def _count_loss(
    connection: BaseDatabaseWrapper, table: str, column: str | None, operation: Any, tables: set[str]
) -> tuple[int, str]:
    if table not in tables:
        return 0, "rows"
    quote = connection.ops.quote_name
    if column is None:
        return _count(connection, f"SELECT COUNT(*) FROM {quote(table)}", []), "rows"  # noqa: S608
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, table)}
    if column not in columns:
        return 0, "non-null"
    sql = f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"  # noqa: S608
    has_default, default = _constant_default(operation, connection)
    if has_default:
        return _count(connection, f"{sql} AND {quote(column)} <> %s", [default]), "non-default"
    return _count(connection, sql, []), "non-null"


@dataclass
class ReverseChecks:
    """What reversing ``migrations`` (in the order Django unapplies them) runs into, found before anything
    changes: operations without a reverse, NOT NULL columns added back into full tables, and the data the
    reverse drops. rollback_release and safe_migrate's backward targets both refuse on ``refusals``."""

    migrations: list[Migration]
    irreversible: list[dict[str, Any]] = field(default_factory=list)
    data_loss: list[DataLoss] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What the reversal breaks for the new code still serving, and the order to go back in
    #: (RollbackWindow.as_dict()); None when nothing does.
    window: dict[str, Any] | None = None


def check_reverse(
    migrations: list[Migration],
    connection: BaseDatabaseWrapper,
    executor: MigrationExecutor,
    *,
    accept_data_loss: bool,
    restore_option: str = "--restore-backup",
    keep: str = "keep this release",
) -> ReverseChecks:
    """The checks of :class:`ReverseChecks`; ``restore_option`` and ``keep`` are the command's way out
    named in its refusals."""
    from django_cicd.migrations_safety import analyse_plan
    from django_cicd.migrations_safety.rules import PREFIX

    plan = ReverseChecks(list(migrations))
    steps = [planning.PlanStep(m, backwards=True) for m in plan.migrations]
    report = analyse_plan(steps, database=connection.alias, loader=executor.loader, direction="backwards")
    by_label = {f"{m.app_label}.{m.name}": m for m in plan.migrations}
    tables = set(connection.introspection.table_names())
    window = report.rollback_window
    if window:
        plan.window = window.as_dict()
    for finding in report.irreversible:
        plan.irreversible.append(
            {"migration": finding.migration_label, "operation": finding.operation, "message": redact(finding.message)}
        )
    if plan.irreversible:
        names = ", ".join(f"{i['migration']} ({i['operation']})" for i in plan.irreversible)
        plan.refusals.append(
            f"{len(plan.irreversible)} operation(s) in the reverse plan have no reverse: {names}; Django would stop "
            "there with part of the plan reversed. Restore the backup taken before the release instead "
            f"({restore_option})"
        )
    for finding in report.noop_reverses:
        plan.notes.append(f"{finding.migration_label}: {finding.operation} reverses as a no-op: schema back, data not")
    for finding in report.findings:
        if finding.rule_id != PREFIX + "reverse_not_null_without_default" or not finding.table:
            continue
        if finding.table not in tables:
            continue
        rows = _count(connection, f"SELECT COUNT(*) FROM {connection.ops.quote_name(finding.table)}", [])  # noqa: S608
        if rows:
            plan.refusals.append(
                f"{finding.migration_label}: reversing it adds NOT NULL column "
                f'"{finding.table}"."{finding.column}" back without a default, which fails on the {rows} row(s) of '
                f"the table; restore the backup instead ({restore_option})"
            )
    for finding in report.data_loss:
        migration = by_label.get(finding.migration_label)
        operation = (
            migration.operations[finding.operation_index]
            if migration is not None and finding.operation_index is not None
            else None
        )
        rows, counted = _count_loss(connection, str(finding.table), finding.column, operation, tables)
        plan.data_loss.append(
            DataLoss(finding.migration_label, finding.operation, str(finding.table), finding.column, rows, counted)
        )
    lost = [d for d in plan.data_loss if d.rows]
    if lost:
        listed = "; ".join(f"{d.where}: {d.rows} row(s)" for d in lost)
        if accept_data_loss:
            plan.notes.append(f"--accept-data-loss: the reverse drops data in {listed}")
        else:
            plan.refusals.append(
                f"the reverse plan drops data: {listed}. Pass --accept-data-loss to roll back anyway (the backup "
                f"the rollback takes first keeps that data; not with --no-backup), or {keep}"
            )
    return plan


def _check_restore(plan: RollbackPlan) -> None:
    """The backup of the oldest undone release: present, intact (sha256), holding the target's state."""
    candidates = sorted(plan.undone, key=lambda r: (r.started_at, r.pk))
    with_backup = [r for r in candidates if r.backup_name]
    if not candidates:
        plan.refusals.append("no release is being undone, so there is no backup to restore")
        return
    if not with_backup or with_backup[0] is not candidates[0]:
        plan.refusals.append(
            f"release {candidates[0].name} (ledger row {candidates[0].pk}) recorded no backup, so there is nothing "
            "to restore to the state before it; roll back by reversing migrations (without --restore-backup)"
        )
        return
    release = with_backup[0]
    plan.restore = release
    if normalised(release.state_before) != normalised(plan.target_state):
        plan.refusals.append(
            f"the backup {release.backup_name} holds the state before release {release.name} "
            f"({planning.format_state(normalised(release.state_before))}), not the state of release "
            f"{plan.to_release} ({planning.format_state(normalised(plan.target_state))}); pick the release "
            "right before it with --to"
        )
        return
    try:
        metadata = backups.read_metadata(release.backup_name)
    except backups.BackupError as exc:
        plan.refusals.append(f"{exc}; it is not restored")
        return
    if metadata.get("state") is not None and normalised(metadata.get("state")) != normalised(plan.target_state):
        plan.refusals.append(
            f"the metadata of the backup {release.backup_name} records another migration state than release "
            f"{plan.to_release}: it is not the backup of that state"
        )
        return
    try:
        sha256, _size = backups.sha256_of(release.backup_name)
    except (OSError, backups.BackupNotReady) as exc:
        plan.refusals.append(f"the backup {release.backup_name} cannot be read: {exc}")
        return
    if sha256 != release.backup_sha256:
        plan.refusals.append(
            f"the backup {release.backup_name} changed since it was taken: its sha256 is {sha256[:12]}..., the "
            f"ledger recorded {release.backup_sha256[:12]}...; it is not restored"
        )
        return
    taken = release.started_at
    plan.restore_age = (timezone.now() - taken).total_seconds() if taken else None
    plan.notes.append(
        f"the backup {release.backup_name} was taken {_age(plan.restore_age)} ago, before release {release.name}: "
        "everything written to the database since then is lost by the restore"
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    return str(dt.timedelta(seconds=int(seconds)))


def plan_rollback(options: RollbackOptions) -> RollbackPlan:
    """What the rollback would do, with every check made; changes nothing. Raises CouldNotRollBack."""
    alias = options.database
    options.check()
    connection = connect(alias)
    if options.steps < 1:
        raise CouldNotRollBack(f"--steps must be 1 or more, not {options.steps}")
    executor = executor_for(connection)
    state_before = planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})
    plan = RollbackPlan(
        database=alias,
        vendor=connection.vendor,
        mode="restore" if options.restore_backup else "reverse",
        state_before=state_before,
    )
    if not ledger.table_exists(alias):
        plan.refusals.append(
            f"database {alias!r} has no release ledger: nothing records a previous release to go back to "
            "(safe_migrate writes it)"
        )
        return plan
    succeeded = ledger.succeeded_deploys(alias)
    if not succeeded:
        plan.refusals.append(f"no succeeded deploy is recorded in the ledger of database {alias!r}: nothing to undo")
        return plan
    plan.current = succeeded[0]
    # A release deployed in two stages (safe_migrate --stage pre, then post) has two rows of one name:
    # it is one release to go back from, and the latest row of the release before is the target.
    releases = ledger.group_by_release(succeeded)
    if options.to:
        plan.target = _find_target(options)
    elif len(releases) > options.steps:
        plan.target = releases[options.steps][0]
    else:
        plan.refusals.append(
            f"no previous release: the ledger of database {alias!r} has {len(releases)} succeeded release(s) "
            f"({', '.join(group[0].name for group in releases[:5])}), so there is no release {options.steps} "
            "step(s) back to roll back to"
        )
        return plan
    target = plan.target
    plan.undone = [
        r for r in succeeded if (r.started_at, r.pk) > (target.started_at, target.pk or 0) and r.pk != target.pk
    ]
    if target.state_after is None:
        plan.refusals.append(f"release {target.name} (ledger row {target.pk}) has no recorded migration state")
        return plan
    plan.target_state = dict(target.state_after)
    if plan.current.state_after is not None and normalised(plan.current.state_after) != normalised(state_before):
        plan.notes.append(
            f"the database is not at the state recorded for release {plan.current.name}: it is at "
            f"{planning.format_state(normalised(state_before))} (migrations run outside safe_migrate?); the plan "
            "starts from where it really is"
        )
    if plan.mode == "restore":
        _check_restore(plan)
        return plan
    try:
        steps = planning.reverse_plan(executor, plan.target_state, keep=[LEDGER_APP])
    except planning.PlanningError as exc:
        plan.refusals.append(str(exc))
        return plan
    plan.migrations = [step.migration for step in steps]
    plan.steps = [StepResult(m.app_label, m.name, atomic=m.atomic) for m in plan.migrations]
    if options.with_sql:
        for migration in plan.migrations:
            statements = executor.loader.collect_sql([(migration, True)])
            plan.sql[f"{migration.app_label}.{migration.name}"] = [redact(str(s)) for s in statements]
    if plan.migrations:
        checks = check_reverse(plan.migrations, connection, executor, accept_data_loss=options.accept_data_loss)
        plan.irreversible += checks.irreversible
        plan.window = checks.window
        plan.data_loss += checks.data_loss
        plan.refusals += checks.refusals
        plan.notes += checks.notes
    return plan


# --- running -------------------------------------------------------------------------------------


class RollbackJob(Job):
    """What rollback_release hands the run engine: the checked plan, then a reverse or a restore."""

    command = COMMAND
    kind = Release.Kind.ROLLBACK
    without_backup = "the rollback itself cannot be undone"

    def __init__(self, options: RollbackOptions) -> None:
        self.options = options
        self.plan: RollbackPlan | None = None

    @property
    def changes_without_steps(self) -> bool:
        return self.plan is not None and self.plan.mode == "restore"

    def release_name(self) -> str:
        return self.plan.to_release if self.plan is not None else ""

    def new_result(self, run: Run) -> RollbackResult:
        mode = "restore" if self.options.restore_backup else "reverse"
        empty = RollbackPlan(database=run.alias, vendor=run.connection.vendor, mode=mode, state_before={})
        target = self.options.docker_service or self.options.docker_image or ""
        return RollbackResult(status="failed", database=run.alias, plan=empty, image_target=target)

    def before_lock(self, run: Run) -> None:
        if self.options.docker_service or self.options.docker_image:
            from django_cicd import containers

            try:
                containers.check_engine(self.options.docker_service)
            except containers.ContainerError as exc:
                raise CouldNotRollBack(f"{exc}; nothing was rolled back") from exc

    def prepare(self, run: Run) -> bool:
        result = run.result
        assert isinstance(result, RollbackResult)
        plan = self.plan = result.plan = plan_rollback(self.options)
        result.release = plan.to_release
        result.image = plan.image
        result.state_before = plan.state_before
        for step in plan.steps:
            step.backwards = True
        result.steps = plan.steps
        if plan.refused:
            result.status = "refused"
            return False
        assert plan.target is not None
        if plan.mode == "restore" and self.options.confirm is not None:
            question = (
                f"Restore {plan.restore.backup_name if plan.restore else '?'} into database {run.alias!r}? Everything "
                f"written since {_age(plan.restore_age)} ago is lost."
            )
            if not self.options.confirm(question):
                plan.refusals.append(
                    "the restore was not confirmed (answer yes at the prompt; without a terminal pass --noinput); "
                    "nothing was changed"
                )
                result.status = "refused"
                return False
        if not plan.steps and plan.mode == "reverse":
            result.note("the database already has the target's schema: nothing to reverse")
        return True

    def backup_release(self) -> str:
        return f"rollback-{self.plan.from_release if self.plan else ''}"

    def row(self, run: Run) -> dict[str, Any]:
        plan = self.plan
        assert plan is not None
        assert plan.target is not None
        return {
            "name": plan.target.name,
            "image": (plan.target.image_repository, plan.target.image_digest),
            "target": plan.target,
            "details": {
                "mode": plan.mode,
                "from_release": plan.from_release,
                "undone": [r.pk for r in plan.undone],
                "data_loss": [d.as_dict() for d in plan.data_loss],
            },
        }

    def change(self, run: Run) -> Failure | None:
        plan = self.plan
        assert plan is not None
        if plan.mode == "restore":
            return self._restore(run)
        if not plan.steps:
            return None
        executor = MigrationExecutor(run.connection)
        targets = planning.reverse_targets(executor.loader, plan.target_state, keep=[LEDGER_APP])
        migration_plan = executor.migration_plan(targets)
        if [(m.app_label, m.name) for m, _ in migration_plan] != [(s.app, s.name) for s in plan.steps]:
            return Failure(
                step=None,
                error=RuntimeError("the migrations of the database changed between the plan and the run; run again"),
            )
        return run.migrate(executor, targets, migration_plan, plan.steps)

    def _restore(self, run: Run) -> Failure | None:
        plan = self.plan
        assert plan is not None
        assert plan.restore is not None
        assert run.vendor is not None
        release = plan.restore
        details = release.details if isinstance(release.details, dict) else {}
        recorded = details.get("objects_before")
        if recorded is None and isinstance(details.get("tables_before"), list):  # rows of version 0.1
            recorded = [f"table:{name}" for name in details["tables_before"]]
        try:
            run.check_lock()
            if isinstance(recorded, list):
                # Objects created after the backup would survive the restore (it drops and recreates only
                # what it holds); we hold the deploy lock, so they are the undone releases' own.
                keep = {str(name) for name in recorded}
                catalog = run.vendor.catalog(run.connection)
                new = [o for o in catalog.objects if o.kind in TOP_LEVEL and f"{o.kind}:{o.name}" not in keep]
                new = [o for o in new if o.name not in run.vendor.BOOKKEEPING_TABLES]
                if new:
                    with run.guarded():
                        run.vendor.drop_objects(run.connection, catalog, new)
                    run.result.note(f"dropped what the undone releases created: {', '.join(o.label for o in new)}")
            else:
                run.result.note(
                    f"release {release.name} recorded no list of its tables: what it created is left beside the restore"
                )
            kwargs = {"allow_other_database": True} if self.options.restore_into_other_database else {}
            run.restore(release.backup_name, release.backup_sha256, **kwargs)
        except (backups.BackupError, DatabaseError) as exc:
            return Failure(step=None, error=exc)
        return None

    def after_success(self, run: Run) -> str:
        plan = self.plan
        result = run.result
        assert plan is not None
        assert isinstance(result, RollbackResult)
        ledger.mark_rolled_back(plan.undone)
        result.status = "rolled_back" if (plan.steps or plan.mode == "restore") else "nothing_to_do"
        if not (self.options.docker_service or self.options.docker_image):
            return ""
        error = _switch_image(self.options, plan, result)
        if run.row is not None:
            ledger.update(run.row, details={**(run.row.details or {}), "image_switch": result.image_switch})
        if error:
            result.status = "failed"
            result.error = error
        return error

    def hook_details(self) -> dict[str, Any]:
        if self.plan is None:
            return {}
        return {"from_release": self.plan.from_release, "to_release": self.plan.to_release}


def run_rollback(options: RollbackOptions, progress: Progress | None = None) -> RollbackResult:
    """Roll ``options.database`` back; see the module docstring. Raises CouldNotRollBack (exit 2)."""
    result = Run(options, progress).execute(RollbackJob(options))
    assert isinstance(result, RollbackResult)
    return result


def _switch_image(options: RollbackOptions, plan: RollbackPlan, result: RollbackResult) -> str:
    """Point the Swarm service or the tag at the target's image; return an error ('' when done)."""
    from django_cicd import containers

    target = plan.target
    assert target is not None
    if not target.image_repository:
        message = (
            f"release {target.name} recorded no image (safe_migrate --image or ${cicd_settings.IMAGE_VARIABLE}), "
            "so there is nothing to switch back to; the database is back, switch the image by hand"
        )
        result.image_switch = {"ok": False, "summary": "no image recorded for the target release"}
        return message
    try:
        if options.docker_service:
            outcome = containers.switch_service(
                options.docker_service, target.image_repository, target.image_digest, timeout=options.docker_timeout
            )
        else:
            assert options.docker_image is not None
            outcome = containers.retag(
                target.image_repository,
                target.image_digest,
                options.docker_image,
                options.docker_tag or cicd_settings.DOCKER_TAG,
            )
    except containers.ContainerError as exc:
        result.image_switch = {"ok": False, "summary": f"image switch failed: {exc}"}
        return redact(f"the database is back at release {target.name}, but the image switch failed: {exc}")
    result.image_switch = {"ok": True, **outcome.as_dict()}
    return ""
