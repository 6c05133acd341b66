"""``manage.py safe_migrate``: migrate under a deploy lock, after a verified backup, with a ledger row
and recovery. Takes ``migrate``'s arguments, so a CI script swaps the command name only.
Exit 0 applied (or nothing to apply), 1 blocked, refused or failed, 2 could not run."""

from __future__ import annotations

from argparse import ArgumentParser
from io import StringIO
from typing import Any

from django.core.management.base import OutputWrapper, SystemCheckError

from django_cicd import events, migrating, rehearsal, runs
from django_cicd.management.base import (
    CicdCommand,
    add_output_options,
    add_run_options,
    could_not_run,
    run_options,
)
from django_cicd.migrating import MigrateOptions
from django_cicd.redaction import redact
from django_cicd.reporting.runs import Progress


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
        self.verbosity = options["verbosity"]
        try:
            if not skip_checks:
                self._system_checks(options["database"])
            if plan or sql or check_unapplied:
                planned = migrating.describe_plan(migrate_options, with_sql=sql, check=check_unapplied)
                self.emit(planned, format=format, output=output, verbosity=self.verbosity)
                return
            if rehearse:
                report = rehearsal.rehearse(
                    options["database"],
                    lock_wait=options["lock_wait"],
                    progress=self._progress_line,
                )
                self.emit(report, format=format, output=output, verbosity=self.verbosity)
                return
            progress = Progress(self.verbosity, self._progress_line)
            try:
                result = migrating.safe_migrate(migrate_options, progress=progress)
            finally:
                progress.flush()
        except (migrating.CouldNotMigrate, rehearsal.RehearsalError) as exc:
            raise could_not_run(str(exc)) from exc
        self.emit(result, format=format, output=output, verbosity=self.verbosity)

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
        if self.json_progress and events.json_on_stderr():
            return  # stderr holds JSON lines (--log-format json): the migration events say the same
        stream = self.stderr if self.json_progress else self.stdout
        stream.write(line)
        stream.flush()
