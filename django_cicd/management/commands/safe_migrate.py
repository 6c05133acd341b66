"""``manage.py safe_migrate``: migrate under a deploy lock, after a verified backup, with a ledger row
and recovery. Exit 0 applied (or nothing to apply), 1 blocked or failed, 2 could not run."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django_cicd import migrating, rehearsal
from django_cicd.management.base import (
    CicdCommand,
    add_output_options,
    add_run_options,
    answer_is_no,
    could_not_run,
    run_options,
)
from django_cicd.migrating import MigrateOptions, MigrateResult, StepResult
from django_cicd.planning import format_state
from django_cicd.reporting.runs import backup_line, outcome_lines, step_line


class Command(CicdCommand):
    help = (
        "Apply migrations the safe way: deploy lock, safety gate, verified backup, release ledger, "
        "migration by migration with timeouts, and recovery on failure. "
        "Exit 0: applied or nothing to apply; 1: blocked or failed; 2: could not run (nothing changed)."
    )
    # The command refuses to run on a broken project by itself (could_not_run); Django's checks
    # would print their own text in the middle of a machine-readable report.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        parser.add_argument(
            "--release",
            help="Release name for the ledger (default: $SENTRY_RELEASE, $GITHUB_SHA, $CI_COMMIT_SHA, "
            "$SOURCE_VERSION, $HEROKU_SLUG_COMMIT, $K_REVISION, a REVISION file, else 'unnamed').",
        )
        parser.add_argument(
            "--image",
            metavar="REPO@DIGEST",
            help="The image of this release (REPO@DIGEST or REPO:TAG; default: $CICD_IMAGE, "
            "or the variable named by CICD['IMAGE_VARIABLE']).",
        )
        add_run_options(parser, "a failed migration")
        parser.add_argument(
            "--allow-unsafe", action="store_true", help="Run even when the migration safety analysis blocks the plan."
        )
        parser.add_argument(
            "--allow-older-code",
            action="store_true",
            help="When the database is ahead of this code, exit 0 (changing nothing) instead of 1: for the "
            "entrypoint of an older release's replica restarting during a rollout.",
        )
        parser.add_argument(
            "--verify-restore",
            action="store_true",
            help="Also restore the backup into a scratch database (dropped afterwards) before migrating.",
        )
        parser.add_argument("--backup-only", action="store_true", help="Take and verify the backup, migrate nothing.")
        parser.add_argument("--plan", action="store_true", help="Show what would be applied; change nothing.")
        parser.add_argument("--sql", action="store_true", help="Show the SQL each pending migration would run.")
        parser.add_argument(
            "--rehearse",
            action="store_true",
            help="Run the plan forward, backward and forward on a scratch copy of the database, never on it.",
        )

    def handle(
        self,
        *args: Any,
        format: str,
        output: str | None,
        release: str | None,
        image: str | None,
        allow_unsafe: bool,
        allow_older_code: bool,
        verify_restore: bool,
        backup_only: bool,
        plan: bool,
        sql: bool,
        rehearse: bool,
        **options: Any,
    ) -> None:
        modes = [
            name
            for name, on in (("--plan", plan), ("--sql", sql), ("--rehearse", rehearse), ("--backup-only", backup_only))
            if on
        ]
        if len(modes) > 1:
            raise could_not_run(f"{modes[0]} and {modes[1]} cannot be combined; choose one")
        self.json_progress = format == "json" and not output
        try:
            if plan or sql:
                planned = migrating.describe_plan(options["database"], with_sql=sql)
                self._render_plan(planned, format, output, sql)
                return
            if rehearse:
                report = rehearsal.rehearse(
                    options["database"],
                    lock_wait=options["lock_wait"],
                    progress=self._progress_line,
                )
                self.write_output(
                    json.dumps(report.as_dict(), indent=2) + "\n" if format == "json" else report.render_text(),
                    output,
                    text=report.render_text(),
                )
                if not report.ok:
                    raise answer_is_no(report.summary)
                return
            result = migrating.safe_migrate(
                MigrateOptions(
                    **run_options(options),
                    release=release,
                    image=image,
                    allow_unsafe=allow_unsafe,
                    verify_restore=verify_restore,
                    backup_only=backup_only,
                    allow_older_code=allow_older_code,
                ),
                progress=self._progress,
            )
        except (migrating.CouldNotMigrate, rehearsal.RehearsalError) as exc:
            raise could_not_run(str(exc)) from exc
        text = self._render_text(result)
        rendered = json.dumps(result.as_dict(), indent=2) + "\n" if format == "json" else text
        self.write_output(rendered, output, text=text)
        if result.exit_code:
            raise answer_is_no(result.summary)

    # --- output -----------------------------------------------------------------------------

    def _progress_line(self, line: str) -> None:
        stream = self.stderr if self.json_progress else self.stdout
        stream.write(line)
        stream.flush()

    def _progress(self, action: str, step: StepResult) -> None:
        seconds = f" ({step.seconds:.3f}s)" if step.seconds is not None else ""
        lines = {
            "apply_start": f"  applying {step.label} ...",
            "apply_success": f"  applied  {step.label}{seconds}",
            "apply_failed": f"  FAILED   {step.label}{seconds}",
            "unapply_success": f"  reversed {step.label}",
        }
        if action in lines:
            self._progress_line(lines[action])

    def _render_text(self, result: MigrateResult) -> str:
        lines = [
            f"safe_migrate on database {result.database!r}: release {result.release}"
            + (f", environment {result.environment}" if result.environment else "")
            + (f", image {result.image}" if result.image else ""),
            f"  before   {format_state(result.state_before) or '(no migrations)'}",
        ]
        lines += backup_line(result)
        lines.extend(f"  blocked  {finding.get('message') or finding}" for finding in result.findings)
        lines.extend(step_line(step) for step in result.steps)
        lines += outcome_lines(result)
        style = self.style.SUCCESS if result.exit_code == 0 else self.style.ERROR
        lines.append(style(result.summary))
        return "\n".join(lines) + "\n"

    def _render_plan(self, planned: migrating.PlannedRun, format: str, output: str | None, sql: bool) -> None:
        lines = [
            f"safe_migrate --{'sql' if sql else 'plan'} on database {planned.database!r}: "
            f"{len(planned.steps)} migration(s) to apply; nothing was changed",
            f"  state    {format_state(planned.state) or '(no migrations)'}",
        ]
        for step in planned.steps:
            flags = [] if step["reversible"] else ["irreversible"]
            if not step["atomic"]:
                flags.append("non-atomic")
            lines.append(f"  apply    {step['app']}.{step['name']}" + (f"  ({', '.join(flags)})" if flags else ""))
            if sql:
                lines.extend(f"    {line}" for line in step["sql"] or ["-- (no SQL)"])
        text = "\n".join(lines) + "\n"
        rendered = json.dumps(planned.as_dict(), indent=2) + "\n" if format == "json" else text
        self.write_output(rendered, output, text=text)
