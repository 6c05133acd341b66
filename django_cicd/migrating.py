"""What ``manage.py safe_migrate`` adds to the run engine: the forward plan and the safety gate.

:func:`safe_migrate` is the Python API; the command only parses options and renders the
:class:`MigrateResult`. Errors that happen before anything changed raise :class:`CouldNotMigrate`
(exit code 2); a run that started always returns a result, whose status says where the database
is. Everything around the plan (lock, signals, backup, ledger, timed executor, recovery) is
:mod:`django_cicd.runs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

from django_cicd import ledger, planning, runs
from django_cicd.conf import cicd_settings
from django_cicd.migrations_safety.analysis import SafetyFinding
from django_cicd.models import Release
from django_cicd.redaction import redact
from django_cicd.release import InvalidReleaseName
from django_cicd.runs import Failure, Run, StepResult

__all__ = [
    "CouldNotMigrate",
    "MigrateOptions",
    "MigrateResult",
    "PlannedRun",
    "StepResult",
    "describe_plan",
    "safe_migrate",
]

#: safe_migrate raises CouldNotRun under this name too.
CouldNotMigrate = runs.CouldNotRun


@dataclass
class MigrateOptions(runs.RunOptions):
    release: str | None = None
    image: str | None = None
    allow_unsafe: bool = False
    backup_only: bool = False
    #: Exit 0 (changing nothing) when the database is ahead of this code, instead of 1: for the
    #: entrypoint of an old replica restarting during a rollout.
    allow_older_code: bool = False


@dataclass
class MigrateResult(runs.RunResult):
    command: ClassVar[str] = "safe_migrate"
    #: nothing_to_apply, applied, backup_only, blocked, code_older, stopped, failed, recovered
    OK_STATUSES: ClassVar[frozenset[str]] = frozenset({"nothing_to_apply", "applied", "backup_only"})
    #: code_older with --allow-older-code
    older_code_allowed: bool = False
    unknown_applied: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "code_older" and self.older_code_allowed:
            return 0
        return super().exit_code

    def describe(self) -> str:
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
        if self.status == "code_older":
            verdict = "allowed (--allow-older-code)" if self.older_code_allowed else "refused"
            return (
                f"safe_migrate {verdict}: {where} is ahead of this code ({len(self.unknown_applied)} migration(s) it "
                f"does not have); nothing was changed and release {self.release} was not recorded"
            )
        if self.status == "recovered":
            return f"safe_migrate FAILED on {where} and {where} is back at its state before the run ({self.recovery})"
        return f"safe_migrate FAILED on {where}; {where} was NOT brought back: see 'where the database is' above"

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": "django-cicd/safe_migrate",
            "version": 1,
            **self.common_dict(),
            "plan": [s.as_dict() for s in self.steps],
            "unknown_applied": self.unknown_applied,
            "notes": self.notes,
            "findings": self.findings,
            "summary": self.summary,
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
        self.plan: list[tuple[Migration, bool]] = []

    def release_name(self) -> str:
        return self.release

    def new_result(self, run: Run) -> MigrateResult:
        result = MigrateResult(status="failed", database=run.alias, release=self.release)
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
        self.plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        result.state_before = planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})
        unknown = planning.unknown_applied(executor.loader, executor.loader.applied_migrations or {})
        if unknown:
            self._code_older(run, result, unknown)
            return False
        result.steps = [StepResult(m.app_label, m.name, atomic=m.atomic) for m, _ in self.plan]
        if self.options.backup_only:
            result.status = "backup_only"
            result.state_after = result.state_before
            if self.options.backup:
                result.backup = run._backup(self)
                run._stop_requested("during the backup, before anything changed")
            return False
        if not self.plan:
            result.status = "nothing_to_apply"
            result.state_after = result.state_before
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
        if not self._gate(run, result):
            result.status = "blocked"
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
        """The migration safety analysis; False when it blocks the run."""
        from django_cicd.migrations_safety import analyse_plan

        steps = [planning.PlanStep(migration, backwards) for migration, backwards in self.plan]
        report = analyse_plan(steps, database=run.alias)
        blocking = report.blocking
        result.findings = [_finding_dict(f) for f in blocking]
        if not blocking:
            return True
        if self.options.allow_unsafe:
            result.note(f"--allow-unsafe: {len(blocking)} blocking finding(s) accepted for this run")
            return True
        return False

    def row(self, run: Run) -> dict[str, Any]:
        return {"name": self.release, "image": self.image}

    def change(self, run: Run) -> Failure | None:
        assert self.executor is not None
        return run.migrate(self.executor, self.executor.loader.graph.leaf_nodes(), self.plan, run.result.steps)

    def after_success(self, run: Run) -> str:
        run.result.status = "applied"
        return ""


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


def safe_migrate(options: MigrateOptions, progress: runs.Progress | None = None) -> MigrateResult:
    """Apply the pending migrations of ``options.database`` the safe way; see the module docstring."""
    result = Run(options, progress).execute(MigrateJob(options))
    assert isinstance(result, MigrateResult)
    return result


def current_state(alias: str) -> dict[str, str | None]:
    return planning.state_from_applied(planning.load_graph(), planning.applied_migrations(alias))


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
    connection = runs.connect(alias)
    executor = runs.executor_for(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    steps: list[dict[str, Any]] = []
    for migration, backwards in plan:
        step: dict[str, Any] = {
            "app": migration.app_label,
            "name": migration.name,
            "atomic": migration.atomic,
            "reversible": runs.reversible(migration),
        }
        if with_sql:
            step["sql"] = [redact(str(s)) for s in executor.loader.collect_sql([(migration, backwards)])]
        steps.append(step)
    state = planning.state_from_applied(executor.loader, executor.loader.applied_migrations or {})
    return PlannedRun(connections[alias].alias, state, steps)
