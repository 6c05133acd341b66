"""``manage.py safe_migrate``: migrate under a deploy lock, after a verified backup, with a ledger row
and recovery. Takes ``migrate``'s arguments, so a CI script swaps the command name only.
Exit 0 applied (or nothing to apply), 1 blocked, refused or failed, 2 could not run."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from io import StringIO
from typing import Any

from django.core.management.base import OutputWrapper, SystemCheckError

from django_cicd import migrating, rehearsal, runs
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
from django_cicd.redaction import redact
from django_cicd.reporting.runs import backup_line, outcome_lines, step_line


class Command(CicdCommand):
    help = (
        "Apply migrations the safe way: deploy lock, safety gate, verified backup, release ledger, "
        "migration by migration with timeouts, and recovery on failure. Takes migrate's arguments. "
        "Exit 0: applied or nothing to apply; 1: blocked, refused or failed (or --check: migrations "
        "pending); 2: could not run (nothing changed)."
    )
    # Django's system checks run in handle() (as migrate runs them, unless --skip-checks), so that an
    # error is "could not run" (exit 2) and their text goes to stderr, never into a JSON report.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        # migrate's arguments, with migrate's meaning.
        parser.add_argument(
            "app_label", nargs="?", help="Migrate only this app (to its latest migration, or to migration_name)."
        )
        parser.add_argument(
            "migration_name",
            nargs="?",
            help="Bring the app to the state after this migration (a unique prefix), forwards or backwards; "
            '"zero" unapplies all its migrations. Backwards goes through rollback_release\'s checks.',
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            dest="interactive",
            action="store_false",
            help="Accepted for migrate's sake: safe_migrate never prompts (the migrate signals are sent "
            "non-interactive, as migrate --noinput sends them).",
        )
        parser.add_argument(
            "--fake",
            action="store_true",
            help="Record (backwards: unrecord) the migrations without running them: lock, ledger row, no backup.",
        )
        parser.add_argument(
            "--fake-initial",
            action="store_true",
            help="Record initial migrations whose tables all exist as applied without running them (migrate's check).",
        )
        parser.add_argument(
            "--run-syncdb", action="store_true", help="Also create the tables of apps without migrations."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            dest="check_unapplied",
            help="Exit 1 when migrations are pending (to the target, if one is given); change nothing, take no lock.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete the rows of django_migrations of APP_LABEL's migrations the code no longer has "
            "(under the deploy lock; the report lists them). Migrates nothing.",
        )
        parser.add_argument(
            "--skip-checks", action="store_true", help="Do not run Django's system checks first (migrate's option)."
        )
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
            "--stage",
            choices=["pre", "post"],
            help="Expand/contract: 'pre' applies what is safe while the old code serves (before the rollout) and "
            "holds back the rest; 'post' applies the rest once the new code is live. A migration may declare its "
            "stage (cicd_stage = 'post'); one that neither stage can run safely (a rename) blocks.",
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
        parser.add_argument(
            "--accept-data-loss",
            "--allow-data-loss",
            dest="accept_data_loss",
            action="store_true",
            help="Migrate back to a target even though the reverse drops columns or tables holding data (counted).",
        )
        parser.add_argument("--backup-only", action="store_true", help="Take and verify the backup, migrate nothing.")
        parser.add_argument(
            "--plan",
            action="store_true",
            help="Show the migrations and operations that would run (and, backwards, what the reverse drops); "
            "change nothing.",
        )
        parser.add_argument("--sql", action="store_true", help="Show the SQL each pending migration would run.")
        parser.add_argument(
            "--rehearse",
            action="store_true",
            help="Run the plan forward, backward and forward on a scratch copy of the database, never on it.",
        )

    def handle(
        self,
        *args: Any,
        app_label: str | None,
        migration_name: str | None,
        interactive: bool,
        fake: bool,
        fake_initial: bool,
        run_syncdb: bool,
        check_unapplied: bool,
        prune: bool,
        skip_checks: bool,
        format: str,
        output: str | None,
        release: str | None,
        image: str | None,
        allow_unsafe: bool,
        allow_older_code: bool,
        accept_data_loss: bool,
        verify_restore: bool,
        backup_only: bool,
        plan: bool,
        sql: bool,
        rehearse: bool,
        **options: Any,
    ) -> None:
        modes = [
            name
            for name, on in (
                ("--plan", plan),
                ("--sql", sql),
                ("--rehearse", rehearse),
                ("--backup-only", backup_only),
                ("--check", check_unapplied),
            )
            if on
        ]
        if len(modes) > 1 and set(modes[:2]) not in ({"--plan", "--check"}, {"--sql", "--check"}):
            raise could_not_run(f"{modes[0]} and {modes[1]} cannot be combined; choose one")
        migrate_options = MigrateOptions(
            **run_options(options),
            release=release,
            image=image,
            allow_unsafe=allow_unsafe,
            verify_restore=verify_restore,
            backup_only=backup_only,
            allow_older_code=allow_older_code,
            app_label=app_label,
            migration_name=migration_name,
            fake=fake,
            fake_initial=fake_initial,
            run_syncdb=run_syncdb,
            prune=prune,
            accept_data_loss=accept_data_loss,
            stage=options["stage"],
        )
        if rehearse and migrate_options.migrate_arguments():
            given = ", ".join(migrate_options.migrate_arguments())
            raise could_not_run(f"--rehearse runs the whole pending plan; it cannot be combined with {given}")
        self.json_progress = format == "json" and not output
        try:
            if not skip_checks:
                self._system_checks(options["database"])
            if plan or sql or check_unapplied:
                planned = migrating.describe_plan(migrate_options, with_sql=sql, check=check_unapplied)
                self._render_plan(planned, format, output, "sql" if sql else "plan" if plan else "check")
                if planned.exit_code:
                    raise answer_is_no(self._check_summary(planned))
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
            result = migrating.safe_migrate(migrate_options, progress=self._progress)
        except (migrating.CouldNotMigrate, rehearsal.RehearsalError) as exc:
            raise could_not_run(str(exc)) from exc
        text = self._render_text(result)
        rendered = json.dumps(result.as_dict(), indent=2) + "\n" if format == "json" else text
        self.write_output(rendered, output, text=text)
        if result.exit_code:
            raise answer_is_no(result.summary)

    def _system_checks(self, database: str) -> None:
        """Django's system checks, as migrate runs them (database checks on this alias only): warnings to
        stderr, errors stop the command (exit 2). Both through the redaction, as every output is."""
        runs.connect(database)  # an unknown or unreachable alias is said as every run says it
        captured = StringIO()
        stderr = self.stderr
        self.stderr = OutputWrapper(captured)
        try:
            self.check(databases=[database])
        except SystemCheckError as exc:
            raise could_not_run(
                f"{str(exc).strip()}\nsafe_migrate did not run: fix the errors above, or pass --skip-checks"
            ) from exc
        finally:
            self.stderr = stderr
            if captured.getvalue():
                stderr.write(redact(captured.getvalue()), ending="")

    # --- output -----------------------------------------------------------------------------

    def _progress_line(self, line: str) -> None:
        stream = self.stderr if self.json_progress else self.stdout
        stream.write(line)
        stream.flush()

    def _progress(self, action: str, step: StepResult) -> None:
        seconds = f" ({step.seconds:.3f}s)" if step.seconds is not None else ""
        if action.endswith("_success") and step.status == "faked":
            self._progress_line(f"  faked    {step.label}{seconds}")
            return
        lines = {
            "apply_start": f"  applying {step.label} ...",
            "apply_success": f"  applied  {step.label}{seconds}",
            "apply_failed": f"  FAILED   {step.label}{seconds}",
            "unapply_start": f"  reversing {step.label} ...",
            "unapply_success": f"  reversed {step.label}{seconds}",
            "unapply_failed": f"  FAILED   {step.label}{seconds}",
        }
        if action in lines:
            self._progress_line(lines[action])

    def _render_text(self, result: MigrateResult) -> str:
        target = f", target {result.target}" if result.target else ""
        fake = ", --fake" if result.fake else ", --fake-initial" if result.fake_initial else ""
        lines = [
            f"safe_migrate on database {result.database!r}: release {result.release}"
            + (f", environment {result.environment}" if result.environment else "")
            + (f", image {result.image}" if result.image else "")
            + target
            + fake
            + (f", stage {result.stage}" if result.stage else ""),
            f"  before   {format_state(result.state_before) or '(no migrations)'}",
        ]
        lines += backup_line(result)
        for finding in result.findings:
            reason = f" (accepted: {finding['accepted_reason']})" if finding.get("accepted_reason") else ""
            lines.append(f"  {finding.get('status', 'blocked'):<8} {finding.get('message')}{reason}")
        if result.hint:
            lines.extend(f"  hint     {line}" for line in result.hint.splitlines())
        lines.extend(f"  created  table {table} (app without migrations)" for table in result.synced)
        lines.extend(step_line(step) for step in result.steps)
        lines.extend(f"  pruned   {row['app']}.{row['name']} (applied {row['applied']})" for row in result.pruned)
        lines += _loss_lines(result.data_loss, result.irreversible)
        lines.extend(f"  refused  {refusal}" for refusal in result.refusals)
        lines += outcome_lines(result)
        style = self.style.SUCCESS if result.exit_code == 0 else self.style.ERROR
        lines.append(style(result.summary))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _check_summary(planned: migrating.PlannedRun) -> str:
        where = f"database {planned.database!r}"
        if not planned.steps:
            return f"safe_migrate --check: nothing to apply on {where}"
        verb = "reverse" if planned.backwards else "apply"
        names = ", ".join(f"{s['app']}.{s['name']}" for s in planned.steps[:5])
        more = f" and {len(planned.steps) - 5} more" if len(planned.steps) > 5 else ""
        return f"safe_migrate --check: {len(planned.steps)} migration(s) to {verb} on {where}: {names}{more}"

    def _render_plan(self, planned: migrating.PlannedRun, format: str, output: str | None, mode: str) -> None:
        if mode == "check":
            # Pending: the exit 1 says it, on stderr, once.
            text = "" if planned.exit_code else self._check_summary(planned) + "\n"
        else:
            verb = "reverse" if planned.backwards else "apply"
            target = f" to {planned.target}" if planned.target else ""
            head = f"{len(planned.steps)} migration(s) to {verb}{target}"
            if planned.prune is not None:
                head = f"{len(planned.prune)} row(s) of django_migrations to prune"
            lines = [
                f"safe_migrate --{mode} on database {planned.database!r}: {head}; nothing was changed",
                f"  state    {format_state(planned.state) or '(no migrations)'}",
            ]
            lines.extend(f"  create   table {table} (app without migrations)" for table in planned.synced)
            lines.extend(
                f"  prune    {row['app']}.{row['name']} (applied {row['applied']})" for row in planned.prune or []
            )
            for step in planned.steps:
                flags = [] if step["reversible"] or step["backwards"] else ["irreversible"]
                if not step["atomic"]:
                    flags.append("non-atomic")
                lines.append(f"  {verb:<8} {step['app']}.{step['name']}" + (f"  ({', '.join(flags)})" if flags else ""))
                # --plan: each operation as migrate --plan describes it; --sql: the SQL instead.
                detail = (step["sql"] or ["-- (no SQL)"]) if mode == "sql" else step["operations"]
                lines.extend(f"    {line}" for line in detail)
            lines += _loss_lines(planned.data_loss, planned.irreversible)
            lines.extend(f"  refused  {refusal}" for refusal in planned.refusals)
            lines.extend(f"  note     {note}" for note in planned.notes)
            text = "\n".join(lines) + "\n"
        rendered = json.dumps(planned.as_dict(), indent=2) + "\n" if format == "json" else text
        self.write_output(rendered, output, text=text)


def _loss_lines(data_loss: list[dict[str, Any]], irreversible: list[dict[str, Any]]) -> list[str]:
    """What a backward target's reverse drops and cannot undo, as rollback_release prints it."""
    counted = {"rows": "row(s)", "non-default": "row(s) not at the default", "non-null": "non-NULL row(s)"}
    lines = []
    for loss in data_loss:
        where = f'"{loss["table"]}"."{loss["column"]}"' if loss["column"] else f'table "{loss["table"]}"'
        lines.append(
            f"  drops    {where}: {loss['rows']} {counted.get(loss['counted'], 'row(s)')} ({loss['migration']})"
        )
    lines.extend(f"  cannot   {item['message']}" for item in irreversible)
    return lines
