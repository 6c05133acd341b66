"""What ``manage.py safe_migrate`` adds to the run engine: the plan, as ``migrate`` makes it, and the gates.

:func:`safe_migrate` is the Python API; the command only parses options and renders the
:class:`MigrateResult`. Errors that happen before anything changed raise :class:`CouldNotMigrate`
(exit code 2); a run that started always returns a result, whose status says where the database
is. Everything around the plan (lock, signals, backup, ledger, timed executor, recovery) is
:mod:`django_cicd.runs`.

safe_migrate takes ``migrate``'s arguments with their meaning (:func:`migrate_targets`): a target
``app_label [migration_name]``, forwards or backwards, ``fake``, ``fake_initial``, ``run_syncdb`` and
``prune``. A forward plan goes through the migration safety gate; a backward one through the checks
rollback_release makes (:func:`django_cicd.rollback.check_reverse`) and is recorded as a rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.apps import apps
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import truncate_name
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import AmbiguityError, MigrationLoader
from django.db.migrations.migration import Migration
from django.db.models import Model

from django_cicd import ledger, planning, runs
from django_cicd.conf import cicd_settings
from django_cicd.models import Release
from django_cicd.redaction import redact
from django_cicd.release import InvalidReleaseName
from django_cicd.results import envelope
from django_cicd.runs import LEDGER_APP, Failure, Run, StepResult

__all__ = [
    "CouldNotMigrate",
    "MigrateOptions",
    "MigratePlan",
    "MigrateResult",
    "PlannedRun",
    "StepResult",
    "describe_plan",
    "migrate_targets",
    "safe_migrate",
]

#: safe_migrate raises CouldNotRun under this name too.
CouldNotMigrate = runs.CouldNotRun

Target = tuple[str, "str | None"]


@dataclass
class MigrateOptions(runs.RunOptions):
    release: str | None = None
    image: str | None = None
    allow_unsafe: bool = False
    backup_only: bool = False
    #: Exit 0 (changing nothing) when the database is ahead of this code, instead of 1: for the
    #: entrypoint of an old replica restarting during a rollout.
    allow_older_code: bool = False
    # migrate's arguments, with migrate's meaning.
    app_label: str | None = None
    migration_name: str | None = None
    fake: bool = False
    fake_initial: bool = False
    run_syncdb: bool = False
    prune: bool = False
    #: A backward target whose reverse drops data (counted as rollback_release counts it) runs only with this.
    accept_data_loss: bool = False
    #: Expand/contract: "pre" applies what is safe while the old code serves (before the rollout),
    #: "post" the rest (after it); None applies everything.
    stage: str | None = None

    def check(self) -> None:
        super().check()
        if self.stage not in (None, "pre", "post"):
            raise CouldNotMigrate(f"--stage is pre or post, not {self.stage!r}")
        if self.stage and (self.app_label or self.fake or self.fake_initial or self.prune or self.backup_only):
            raise CouldNotMigrate(
                "--stage applies a release's migrations in two steps; it cannot be combined with a target, "
                "--fake, --fake-initial, --prune or --backup-only"
            )
        if self.migration_name and not self.app_label:
            raise CouldNotMigrate(f"a migration name ({self.migration_name!r}) needs the app label before it")
        if self.prune and not self.app_label:
            raise CouldNotMigrate(
                "Migrations can be pruned only when an app is specified: safe_migrate APP_LABEL --prune"
            )
        if self.backup_only:
            given = self.migrate_arguments()
            if given:
                raise CouldNotMigrate(f"--backup-only migrates nothing; it cannot be combined with {', '.join(given)}")

    def migrate_arguments(self) -> list[str]:
        """The migrate arguments given, as they are spelled on the command line."""
        named = [
            ("--fake", self.fake),
            ("--fake-initial", self.fake_initial),
            ("--run-syncdb", self.run_syncdb),
            ("--prune", self.prune),
        ]
        return ([f"the target {self.target_label()}"] if self.app_label else []) + [n for n, on in named if on]

    def target_label(self) -> str | None:
        if not self.app_label:
            return None
        return f"{self.app_label}.{self.migration_name}" if self.migration_name else self.app_label


def migrate_targets(
    loader: MigrationLoader, app_label: str | None, migration_name: str | None, *, run_syncdb: bool = False
) -> list[Target]:
    """The targets ``migrate`` makes of its arguments, refused with its messages (CouldNotMigrate):
    every leaf; the leaves of ``app_label``; or ``app_label`` at ``migration_name`` (a unique prefix, or
    ``zero``), forwards or backwards from where the database is."""
    if not app_label:
        return list(loader.graph.leaf_nodes())
    try:
        apps.get_app_config(app_label)
    except LookupError as exc:
        raise CouldNotMigrate(str(exc)) from exc
    if run_syncdb:
        if app_label in loader.migrated_apps:
            raise CouldNotMigrate(f"Can't use run_syncdb with app '{app_label}' as it has migrations.")
    elif app_label not in loader.migrated_apps:
        raise CouldNotMigrate(f"App '{app_label}' does not have migrations.")
    if not migration_name:
        return [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
    if migration_name == "zero":
        return [(app_label, None)]
    try:
        migration = loader.get_migration_by_prefix(app_label, migration_name)
    except AmbiguityError:
        raise CouldNotMigrate(
            f"More than one migration matches '{migration_name}' in app '{app_label}'. Please be more specific."
        ) from None
    except KeyError:
        raise CouldNotMigrate(f"Cannot find a migration matching '{migration_name}' from app '{app_label}'.") from None
    target = (app_label, migration.name)
    # A squashed migration applied in part is not in the graph: its last replaced migration stands for it.
    if target not in loader.graph.nodes and target in loader.replacements:
        replaced = loader.replacements[target].replaces[-1]
        target = (replaced[0], replaced[1])
    return [target]


def refuse_conflicts(loader: MigrationLoader) -> None:
    """migrate refuses a graph with several leaves in one app; so does safe_migrate (CouldNotMigrate)."""
    conflicts = loader.detect_conflicts()
    if conflicts:
        names = "; ".join(f"{', '.join(sorted(names))} in {app}" for app, names in sorted(conflicts.items()))
        raise CouldNotMigrate(
            f"Conflicting migrations detected; multiple leaf nodes in the migration graph: ({names}); merge them "
            "with manage.py makemigrations --merge"
        )


def syncdb_models(connection: BaseDatabaseWrapper, app_labels: set[str] | list[str]) -> list[type[Model]]:
    """The models of ``app_labels`` (apps without migrations) whose tables do not exist yet: what
    ``migrate --run-syncdb`` creates (the router's migratable models, managed, not auto-created)."""
    tables = set(connection.introspection.table_names())
    converter = connection.introspection.identifier_converter
    longest = connection.ops.max_name_length()
    wanted: list[type[Model]] = []
    for app_config in apps.get_app_configs():
        if app_config.models_module is None or app_config.label not in app_labels:
            continue
        for model in router.get_migratable_models(app_config, connection.alias, include_auto_created=False):
            opts = model._meta
            if converter(truncate_name(opts.db_table, longest)) in tables:
                continue
            through_of: Any = opts.auto_created  # the model a many-to-many table belongs to
            if through_of and converter(through_of._meta.db_table) in tables:
                continue
            if opts.can_migrate(connection):
                wanted.append(model)
    return wanted


@dataclass
class PrunePlan:
    """The rows of ``django_migrations`` that ``migrate APP --prune`` deletes: migrations of the app that
    the code no longer has. ``squashes`` lists squashed migrations whose replaced migrations are among
    them: then, as migrate does, nothing is pruned."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    squashes: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [(row["app"], row["name"]) for row in self.rows]


def prune_plan(loader: MigrationLoader, app_label: str) -> PrunePlan:
    applied: dict[tuple[str, str], Any] = dict(loader.applied_migrations or {})
    gone = sorted(key for key in set(applied) - set(loader.disk_migrations) if key[0] == app_label)
    squashes = [
        f"{key[0]}.{key[1]}"
        for key, migration in loader.replacements.items()
        if any(tuple(replaced) in gone for replaced in migration.replaces)
    ]
    rows = [{"app": app, "name": name, "applied": _applied_at(applied[(app, name)])} for app, name in gone]
    return PrunePlan(rows=rows, squashes=squashes)


def _applied_at(record: Any) -> str | None:
    when = getattr(record, "applied", None)
    return when.isoformat() if isinstance(when, datetime) else None


PRUNE_SQUASH_NOTE = (
    "--prune: nothing pruned, because the squashed migration(s) {names} still list the pruned migrations in "
    "'replaces' and may not be recorded as applied; run safe_migrate once so they are, then remove their "
    "'replaces' attribute, as migrate says"
)


@dataclass
class MigratePlan:
    """What safe_migrate (and ``migrate`` with the same arguments) would do to a database."""

    targets: list[Target]
    plan: list[tuple[Migration, bool]]
    #: Models of apps without migrations whose tables --run-syncdb creates.
    syncdb: list[type[Model]] = field(default_factory=list)
    prune: PrunePlan | None = None

    @property
    def backwards(self) -> bool:
        return any(backwards for _, backwards in self.plan)

    @property
    def synced_tables(self) -> list[str]:
        return [model._meta.db_table for model in self.syncdb]

    def steps(self) -> list[StepResult]:
        return [StepResult(m.app_label, m.name, atomic=m.atomic, backwards=b) for m, b in self.plan]


def plan_migrate(executor: MigrationExecutor, options: MigrateOptions) -> MigratePlan:
    """Targets, plan, tables to create and rows to prune, from the database as ``executor`` sees it."""
    loader = executor.loader
    targets = migrate_targets(loader, options.app_label, options.migration_name, run_syncdb=options.run_syncdb)
    if options.prune:
        assert options.app_label is not None
        return MigratePlan(targets=targets, plan=[], prune=prune_plan(loader, options.app_label))
    plan = executor.migration_plan(targets)
    ledger_steps = [f"{m.app_label}.{m.name}" for m, backwards in plan if backwards and m.app_label == LEDGER_APP]
    if ledger_steps:
        raise CouldNotMigrate(
            f"the plan reverses {', '.join(ledger_steps)}: the migrations of the release ledger, which safe_migrate "
            "writes to as it runs; reverse them with manage.py migrate"
        )
    syncdb: list[type[Model]] = []
    if options.run_syncdb:
        labels = [options.app_label] if options.app_label else sorted(loader.unmigrated_apps)
        syncdb = syncdb_models(executor.connection, labels)
    return MigratePlan(targets=targets, plan=plan, syncdb=syncdb)


def _reverse_checks(executor: MigrationExecutor, plan: MigratePlan, options: MigrateOptions) -> Any:
    """rollback_release's checks of a reverse plan (irreversible operations, data loss), for a backward target."""
    from django_cicd.rollback import check_reverse

    return check_reverse(
        [migration for migration, _ in plan.plan],
        executor.connection,
        executor,
        accept_data_loss=options.accept_data_loss,
        restore_option="rollback_release --restore-backup, or a target before this migration",
        keep="pick a later target",
    )


@dataclass
class MigrateResult(runs.RunResult):
    command: ClassVar[str] = "safe_migrate"
    #: nothing_to_apply, applied, reversed, pruned, backup_only, blocked, refused, code_older, stopped,
    #: failed, recovered
    OK_STATUSES: ClassVar[frozenset[str]] = frozenset(
        {"nothing_to_apply", "applied", "reversed", "pruned", "backup_only"}
    )
    #: code_older with --allow-older-code
    older_code_allowed: bool = False
    unknown_applied: list[str] = field(default_factory=list)
    #: The target given (``app``, ``app.migration``, ``app.zero``), None for every app.
    target: str | None = None
    fake: bool = False
    fake_initial: bool = False
    #: Tables --run-syncdb created (or would have).
    synced: list[str] = field(default_factory=list)
    #: Rows --prune deleted from django_migrations: app, name, applied (ISO time).
    pruned: list[dict[str, Any]] = field(default_factory=list)
    #: A backward target: what its reverse drops, what cannot be reversed, why it was refused.
    data_loss: list[dict[str, Any]] = field(default_factory=list)
    irreversible: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    #: For a blocked run: where each blocking finding can be accepted (django_cicd.migrations_safety.gate_hint).
    hint: str = ""
    #: --stage pre or post, and each pending migration's stage with its reasons (StagePlan.as_dict()).
    stage: str | None = None
    stages: dict[str, Any] | None = None
    #: --stage pre: the migrations left for --stage post.
    held_back: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "code_older" and self.older_code_allowed:
            return 0
        return super().exit_code

    @property
    def backwards(self) -> bool:
        return any(step.backwards for step in self.steps)

    def describe(self) -> str:
        where = f"database {self.database!r}"
        if self.status == "nothing_to_apply":
            to = f" for {self.target}" if self.target else ""
            return f"safe_migrate: nothing to apply{to} on {where} (release {self.release})"
        if self.status in {"applied", "reversed"}:
            return f"safe_migrate: {self._what_was_done()} on {where} (release {self.release})"
        if self.status == "pruned":
            names = ", ".join(f"{r['app']}.{r['name']}" for r in self.pruned) or "nothing"
            return f"safe_migrate --prune: deleted {len(self.pruned)} row(s) of django_migrations on {where}: {names}"
        if self.status == "backup_only":
            return f"safe_migrate: backed up {where} to {self.backup.name if self.backup else '?'}"
        if self.status == "blocked":
            blocking = sum(1 for f in self.findings if f.get("status") == "blocked")
            return (
                f"safe_migrate: {blocking} blocking finding(s) in the plan for {where}; nothing was changed; "
                "fix the migrations or accept the findings (see the hint above), or pass --allow-unsafe"
            )
        if self.status == "refused":
            return f"safe_migrate REFUSED to migrate {where} back to {self.target}: {self.refusals[0]}"
        if self.status == "code_older":
            verdict = "allowed (--allow-older-code)" if self.older_code_allowed else "refused"
            return (
                f"safe_migrate {verdict}: {where} is ahead of this code ({len(self.unknown_applied)} migration(s) it "
                f"does not have); nothing was changed and release {self.release} was not recorded"
            )
        if self.status == "recovered":
            return f"safe_migrate FAILED on {where} and {where} is back at its state before the run ({self.recovery})"
        return f"safe_migrate FAILED on {where}; {where} was NOT brought back: see 'where the database is' above"

    def _what_was_done(self) -> str:
        counts = {
            status: sum(1 for s in self.steps if s.status == status) for status in ("applied", "reversed", "faked")
        }
        parts = []
        if self.synced:
            parts.append(f"created {len(self.synced)} table(s) of apps without migrations")
        if counts["applied"] or (not self.backwards and not counts["faked"] and not self.synced):
            parts.append(f"applied {counts['applied']} migration(s)")
        if counts["reversed"]:
            parts.append(f"reversed {counts['reversed']} migration(s) to {self.target}")
        if counts["faked"]:
            verb = "unrecorded" if self.backwards else "recorded"
            parts.append(f"faked {counts['faked']} migration(s) ({verb} only, no SQL run)")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.common_dict("safe_migrate"),
            "target": self.target,
            "direction": "backwards" if self.backwards else "forwards",
            "fake": self.fake,
            "fake_initial": self.fake_initial,
            "plan": [s.as_dict() for s in self.steps],
            "synced": self.synced,
            "pruned": self.pruned,
            "unknown_applied": self.unknown_applied,
            "data_loss": self.data_loss,
            "irreversible": self.irreversible,
            "refusals": self.refusals,
            "notes": self.notes,
            "findings": self.findings,
            "hint": self.hint,
            "stage": self.stage,
            "stages": self.stages,
            "held_back": self.held_back,
        }


class MigrateJob(runs.Job):
    command = "safe_migrate"
    kind = Release.Kind.DEPLOY
    without_backup = "a failed migration cannot be undone"

    def __init__(self, options: MigrateOptions) -> None:
        self.options = options
        try:
            self.release = ledger.detect_release_name(options.release)
        except InvalidReleaseName as exc:
            raise runs.CouldNotRun(str(exc)) from exc
        self.image: tuple[str, str] = ("", "")
        self.image_note = ""
        self.executor: MigrationExecutor | None = None
        self.planned: MigratePlan | None = None

    @property
    def plan(self) -> list[tuple[Migration, bool]]:
        return self.planned.plan if self.planned is not None else []

    @property
    def records_only(self) -> bool:
        """--fake with no table to create: only django_migrations rows change, so no backup (the ledger
        row lists them, and ``safe_migrate APP PREVIOUS --fake`` takes them back)."""
        return self.options.fake and self.planned is not None and not self.planned.syncdb

    @property
    def changes_without_steps(self) -> bool:
        return self.planned is not None and bool(self.planned.syncdb)

    def release_name(self) -> str:
        return self.release

    def new_result(self, run: Run) -> MigrateResult:
        result = MigrateResult(
            status="failed",
            database=run.alias,
            release=self.release,
            target=self.options.target_label(),
            fake=self.options.fake,
            fake_initial=self.options.fake_initial,
        )
        result.image = f"{self.image[0]}@{self.image[1]}" if self.image[1] else self.image[0]
        if self.image_note:
            result.note(self.image_note)
        if self.release == ledger.UNNAMED:
            result.note(
                "no release name given (--release, SENTRY_RELEASE, a CI commit variable such as GITHUB_SHA or "
                "CI_COMMIT_SHA, or a REVISION file): recorded as 'unnamed'"
            )
        return result

    def before_lock(self, run: Run) -> None:
        import os

        if self.options.app_label:
            # A target migrate would refuse is refused before waiting for the lock, from the code alone.
            migrate_targets(
                planning.load_graph(),
                self.options.app_label,
                self.options.migration_name,
                run_syncdb=self.options.run_syncdb,
            )
        image_repository, image_digest = ledger.parse_image(
            self.options.image or os.environ.get(cicd_settings.IMAGE_VARIABLE, "")
        )
        if image_repository and not image_digest:
            from django_cicd import containers

            image_repository, image_digest, note = containers.pin(image_repository)
            if note:
                run.result.note(note)
        self.image = (image_repository, image_digest)
        run.result.image = f"{image_repository}@{image_digest}" if image_digest else image_repository

    def prepare(self, run: Run) -> bool:
        result = run.result
        assert isinstance(result, MigrateResult)
        executor = self.executor = runs.executor_for(run.connection)
        refuse_conflicts(executor.loader)
        result.state_before = planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})
        planned = self.planned = plan_migrate(executor, self.options)
        if planned.prune is not None:
            self._prune(run, result, planned.prune)
            return False
        unknown = planning.unknown_applied(executor.loader, executor.loader.applied_migrations or {})
        if unknown:
            self._code_older(run, result, unknown)
            return False
        result.steps = planned.steps()
        result.synced = planned.synced_tables
        if self.options.backup_only:
            result.status = "backup_only"
            result.state_after = result.state_before
            if self.options.backup:
                result.backup = run._backup(self)
                run._stop_requested("during the backup, before anything changed")
            return False
        if not planned.plan and not planned.syncdb:
            result.status = "nothing_to_apply"
            result.state_after = result.state_before
            if self.options.app_label:
                # Only a run of every app's migrations is the deploy of a release.
                return False
            row, existed = ledger.record_replica(
                name=self.release,
                database=run.alias,
                state=result.state_before,
                image=self.image,
                environment=result.environment,
            )
            if row is not None:
                result.ledger_id = row.pk
                if existed:
                    result.note(f"release {self.release} is already recorded for this state (ledger row {row.pk})")
            return False
        if self.options.fake:
            verb = "unrecords" if planned.backwards else "records"
            result.note(
                f"--fake: {verb} {len(planned.plan)} migration(s) in django_migrations without running them; "
                "no backup is taken when nothing else changes"
            )
            return True
        if planned.backwards:
            return self._check_reverse(result, executor, planned)
        if not self._gate(run, result):
            result.status = "blocked"
            return False
        if self.options.stage == "pre" and not self.planned.plan:
            result.status = "nothing_to_apply"
            result.state_after = result.state_before
            result.note(
                f"--stage pre: none of the {len(result.held_back)} pending migration(s) is safe before the rollout; "
                "run --stage post once the new code is live"
            )
            return False
        return True

    def _prune(self, run: Run, result: MigrateResult, prune: PrunePlan) -> None:
        """migrate's --prune, under the deploy lock: no ledger row (it is neither a deploy nor a
        rollback); the deleted rows are in the report, so they can be put back."""
        from django.db.migrations.recorder import MigrationRecorder

        result.state_after = result.state_before
        result.status = "pruned"
        if prune.squashes:
            result.note(PRUNE_SQUASH_NOTE.format(names=", ".join(prune.squashes)))
            return
        if not prune.rows:
            result.note(
                f"--prune: no migration of {self.options.app_label} recorded without its file: nothing to prune"
            )
            return
        recorder = MigrationRecorder(run.connection)
        run.check_lock()
        with run.guarded():
            for row in prune.rows:
                recorder.record_unapplied(row["app"], row["name"])
                result.pruned.append(row)

    def _check_reverse(self, result: MigrateResult, executor: MigrationExecutor, planned: MigratePlan) -> bool:
        checks = _reverse_checks(executor, planned, self.options)
        result.data_loss = [d.as_dict() for d in checks.data_loss]
        result.irreversible = checks.irreversible
        result.refusals = checks.refusals
        for note in checks.notes:
            result.note(note)
        if checks.refusals:
            result.status = "refused"
            result.state_after = result.state_before
            return False
        return True

    def _code_older(self, run: Run, result: MigrateResult, unknown: list[tuple[str, str]]) -> None:
        result.status = "code_older"
        result.older_code_allowed = self.options.allow_older_code
        result.unknown_applied = [f"{app}.{name}" for app, name in unknown]
        result.state_after = result.state_before
        names = ", ".join(result.unknown_applied[:5]) + (" ..." if len(unknown) > 5 else "")
        by = ledger.release_that_applied(run.alias, unknown)
        who = f" (applied by release {by.name}, ledger row {by.pk})" if by is not None else ""
        result.note(
            f"the database has {len(unknown)} migration(s) this code does not have: {names}{who}; this code is "
            f"older than the database, so release {self.release} is not recorded as deployed. Deploy the newer "
            "release's code, or roll back with the newer code first (rollback_release)"
            + (
                "; --allow-older-code: exit 0 for a replica of an older release restarting during a rollout"
                if self.options.allow_older_code
                else "; a replica of an older release that restarts during a rollout can pass --allow-older-code"
            )
        )

    def _gate(self, run: Run, result: MigrateResult) -> bool:
        """The migration safety analysis; False when it blocks the run. Accepted findings (in the
        migration, in CICD["MIGRATION_SAFETY"], or by --allow-unsafe) are reported as accepted, with
        their reason, never as blocking."""
        from django_cicd.migrations_safety import analyse_plan, gate_hint

        steps = [planning.PlanStep(migration, backwards) for migration, backwards in self.plan]
        report = analyse_plan(steps, database=run.alias)
        if self.options.allow_unsafe:
            accepted = report.accept_unsafe(reason="--allow-unsafe")
            if accepted:
                result.note(f"--allow-unsafe: {len(accepted)} blocking finding(s) accepted for this run")
        considered = self._stage(run, result, steps, report) if self.options.stage else None
        if considered is None and self.options.stage:
            return False  # a migration neither stage can run: the result says how to split it
        blocking = [f for f in report.blocking if considered is None or considered(f)]
        result.findings = [
            f.as_dict()
            for f in report.findings
            if f in blocking or (f.accepted and (considered is None or considered(f)))
        ]
        if not blocking:
            return True
        result.hint = redact(gate_hint(blocking))
        return False

    def _stage(
        self, run: Run, result: MigrateResult, steps: list[planning.PlanStep], report: Any
    ) -> Callable[[Any], bool] | None:
        """--stage: classify the plan (expand/contract), keep the stage's migrations, and say which
        findings still matter for it. None when a migration can run in neither stage."""
        from django_cicd.migrations_safety.stages import (
            BLOCKED_RULES,
            POST_RULES,
            StageDeclarationError,
            classify_stages,
        )

        assert self.executor is not None
        assert self.planned is not None
        stage = self.options.stage
        result.stage = stage
        try:
            stage_plan = classify_stages(steps, database=run.alias, loader=self.executor.loader, report=report)
        except StageDeclarationError as exc:
            raise runs.CouldNotRun(str(exc)) from exc
        result.stages = stage_plan.as_dict()
        if stage_plan.blocked:
            result.status = "blocked"
            labels = [step.label for step in stage_plan.blocked]
            result.note(
                f"--stage {stage}: {', '.join(labels)} can run safely neither before nor after the rollout; "
                "split it (expand, deploy, contract) as the hint says"
            )
            result.hint = redact("\n\n".join(stage_plan.decision(label).steps for label in labels))
            blocked_findings = [
                f for f in report.findings if f.migration_label in labels and f.rule_id in BLOCKED_RULES
            ]
            result.findings = [f.as_dict() for f in blocked_findings]
            return None
        chosen = {step.label for step in (stage_plan.pre if stage == "pre" else steps)}
        if stage == "pre":
            result.held_back = [step.label for step in steps if step.label not in chosen]
            if result.held_back:
                result.note(f"--stage pre: held back for --stage post: {', '.join(result.held_back)}")
            self.planned.plan = [(m, b) for m, b in self.planned.plan if f"{m.app_label}.{m.name}" in chosen]
            result.steps = self.planned.steps()
        declared = {d.label for d in stage_plan.decisions if d.declared}

        def considered(finding: Any) -> bool:
            if finding.migration_label not in chosen:
                return False  # not run in this stage
            if finding.rule_id in POST_RULES | BLOCKED_RULES and finding.migration_label in declared:
                return False  # the migration's stage declaration says when it is safe
            return not (stage == "post" and finding.rule_id in POST_RULES)  # safe: the new code is live

        return considered

    def row(self, run: Run) -> dict[str, Any]:
        planned = self.planned
        assert planned is not None
        result = run.result
        assert isinstance(result, MigrateResult)
        details: dict[str, Any] = {}
        if self.options.stage:
            details["stage"] = self.options.stage
        if self.options.app_label:
            details["target"] = result.target
        if self.options.fake or self.options.fake_initial:
            details["fake"] = "fake" if self.options.fake else "fake_initial"
        if result.synced:
            details["synced"] = result.synced
        if result.data_loss:
            details["data_loss"] = result.data_loss
        # A backward target undoes migrations: a rollback in the ledger, so that it never becomes the
        # release rollback_release goes back to (kind deploy), and releases shows it as what it is.
        kind = Release.Kind.ROLLBACK if planned.backwards else Release.Kind.DEPLOY
        return {"name": self.release, "image": self.image, "kind": kind, "details": details}

    def change(self, run: Run) -> Failure | None:
        assert self.executor is not None
        planned = self.planned
        assert planned is not None
        connection = run.connection
        try:
            run.check_lock()
            with run.guarded():
                # What migrate does first: a backend's preparation (PostGIS creates its extension), then
                # the tables of apps without migrations.
                connection.prepare_database()
                if planned.syncdb:
                    with connection.schema_editor() as editor:
                        for model in planned.syncdb:
                            editor.create_model(model)
        except Exception as exc:  # noqa: BLE001 (reported as the run's failure, then recovered)
            return Failure(step=None, error=exc)
        return run.migrate(
            self.executor,
            planned.targets,
            planned.plan,
            run.result.steps,
            fake=self.options.fake,
            fake_initial=self.options.fake_initial,
        )

    def after_success(self, run: Run) -> str:
        run.result.status = "reversed" if self.planned is not None and self.planned.backwards else "applied"
        return ""


def safe_migrate(options: MigrateOptions, progress: runs.Progress | None = None) -> MigrateResult:
    """Apply the pending migrations of ``options.database`` the safe way; see the module docstring."""
    result = Run(options, progress).execute(MigrateJob(options))
    assert isinstance(result, MigrateResult)
    return result


def current_state(alias: str) -> dict[str, str | None]:
    return planning.state_from_applied(planning.load_graph(), planning.applied_migrations(alias))


@dataclass
class PlannedRun:
    """What safe_migrate would do (--plan, --sql) or whether migrations are pending (--check)."""

    database: str
    state: dict[str, str | None]
    steps: list[dict[str, Any]]
    target: str | None = None
    backwards: bool = False
    #: --check: exit 1 when there are migrations to apply, as migrate --check does.
    check: bool = False
    synced: list[str] = field(default_factory=list)
    #: --prune: the rows it would delete (None without --prune).
    prune: list[dict[str, Any]] | None = None
    data_loss: list[dict[str, Any]] = field(default_factory=list)
    irreversible: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    #: plan, sql or check: which of safe_migrate's options asked.
    mode: str = "plan"
    command: ClassVar[str] = "safe_migrate"

    @property
    def exit_code(self) -> int:
        return 1 if self.check and self.steps else 0

    @property
    def status(self) -> str:
        return "pending" if self.check and self.steps else "planned"

    @property
    def summary(self) -> str:
        where = f"database {self.database!r}"
        verb = "reverse" if self.backwards else "apply"
        if self.mode == "check":
            if not self.steps:
                return f"safe_migrate --check: nothing to apply on {where}"
            names = ", ".join(f"{s['app']}.{s['name']}" for s in self.steps[:5])
            more = f" and {len(self.steps) - 5} more" if len(self.steps) > 5 else ""
            return f"safe_migrate --check: {len(self.steps)} migration(s) to {verb} on {where}: {names}{more}"
        if self.prune is not None:
            return f"safe_migrate --{self.mode} on {where}: {len(self.prune)} row(s) of django_migrations to prune"
        target = f" to {self.target}" if self.target else ""
        refused = "; it would be refused" if self.refusals else ""
        return f"safe_migrate --{self.mode} on {where}: {len(self.steps)} migration(s) to {verb}{target}{refused}"

    def as_dict(self) -> dict[str, Any]:
        return {
            **envelope(
                "safe_migrate-plan",
                command=self.command,
                status=self.status,
                exit_code=self.exit_code,
                summary=self.summary,
            ),
            "mode": self.mode,
            "database": self.database,
            "target": self.target,
            "direction": "backwards" if self.backwards else "forwards",
            "state_before": self.state,
            "plan": self.steps,
            "synced": self.synced,
            "prune": self.prune,
            "data_loss": self.data_loss,
            "irreversible": self.irreversible,
            "refusals": self.refusals,
            "notes": self.notes,
        }


def describe_plan(options: MigrateOptions | str, *, with_sql: bool = False, check: bool = False) -> PlannedRun:
    """What safe_migrate would do on ``options.database`` with ``options``' migrate arguments (and the
    SQL of each migration); for a backward target, rollback_release's checks too. Changes nothing and
    takes no lock. ``options`` may be just an alias."""
    if isinstance(options, str):
        options = MigrateOptions(database=options)
    options.check()
    connection = runs.connect(options.database)
    executor = runs.executor_for(connection)
    refuse_conflicts(executor.loader)
    planned = plan_migrate(executor, options)
    from django.core.management.commands.migrate import Command as Migrate

    steps: list[dict[str, Any]] = []
    for migration, backwards in planned.plan:
        step: dict[str, Any] = {
            "app": migration.app_label,
            "name": migration.name,
            "atomic": migration.atomic,
            "reversible": runs.reversible(migration),
            "backwards": backwards,
            # Each operation as migrate --plan describes it.
            "operations": [Migrate.describe_operation(op, backwards)[0] for op in migration.operations],
        }
        if with_sql:
            step["sql"] = [redact(str(s)) for s in executor.loader.collect_sql([(migration, backwards)])]
        steps.append(step)
    state = planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})
    result = PlannedRun(
        connections[options.database].alias,
        state,
        steps,
        target=options.target_label(),
        backwards=planned.backwards,
        check=check,
        synced=planned.synced_tables,
        mode="check" if check else "sql" if with_sql else "plan",
    )
    if planned.prune is not None:
        result.prune = planned.prune.rows
        if planned.prune.squashes:
            result.notes.append(PRUNE_SQUASH_NOTE.format(names=", ".join(planned.prune.squashes)))
    if planned.backwards and not options.fake:
        checks = _reverse_checks(executor, planned, options)
        result.data_loss = [d.as_dict() for d in checks.data_loss]
        result.irreversible = checks.irreversible
        result.refusals = checks.refusals
        result.notes += checks.notes
    return result
