"""``manage.py rollback_release``: back to a previous release, the database first (reversed with this
code, or restored from the release's backup), then the image. Exit 0 done, 1 refused or failed, 2 could
not run."""

from __future__ import annotations

import sys
from argparse import SUPPRESS, ArgumentParser
from typing import Any

from django_cicd import events, rollback
from django_cicd.management.base import (
    CicdCommand,
    add_output_options,
    add_run_options,
    could_not_run,
    run_options,
    seconds,
)
from django_cicd.reporting.runs import Progress
from django_cicd.rollback import RollbackOptions, RollbackResult


class Command(CicdCommand):
    help = (
        "Roll the database back to a previous release recorded in the ledger (reverse its migrations with "
        "this code, or --restore-backup), then switch the image (--docker-service, --docker-image). "
        "Exit 0: done; 1: refused or failed (the report says where the database is); 2: could not run."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--to", metavar="RELEASE", help="The release to go back to: a name or a ledger id (manage.py releases)."
        )
        target.add_argument(
            "--steps", type=int, default=1, help="Go back N succeeded deploys (default 1: the previous release)."
        )
        parser.add_argument("--plan", action="store_true", help="Show the plan and its checks; change nothing.")
        parser.add_argument("--sql", action="store_true", help="Like --plan, with the SQL of each reversal.")
        parser.add_argument(
            "--accept-data-loss",
            "--allow-data-loss",
            dest="accept_data_loss",
            action="store_true",
            help="Roll back even though the reverse drops columns or tables holding data (they are counted).",
        )
        parser.add_argument(
            "--restore-backup",
            action="store_true",
            help="Restore the backup taken before the oldest release being undone instead of reversing.",
        )
        parser.add_argument(
            "--restore-into-other-database",
            action="store_true",
            help="With --restore-backup: restore even though the backup was taken of another database.",
        )
        parser.add_argument(
            "--noinput", "--no-input", dest="interactive", action="store_false", help="Do not ask for confirmation."
        )
        # migrate's --fake has no meaning here (a rollback reverses with its checks, or restores): said in
        # one sentence that names what does it, rather than argparse's "unrecognized arguments".
        parser.add_argument("--fake", action="store_true", help=SUPPRESS)
        add_run_options(parser, "a failed rollback")
        parser.add_argument(
            "--docker-service",
            metavar="NAME",
            help="After the database, update this Swarm service to the target release's image (by digest).",
        )
        parser.add_argument(
            "--docker-image",
            metavar="REPO",
            help="After the database, tag the target release's image as REPO:TAG (a plain Docker host).",
        )
        parser.add_argument("--docker-tag", metavar="TAG", help="The tag for --docker-image (CICD['DOCKER_TAG']).")
        parser.add_argument(
            "--docker-timeout",
            type=seconds("--docker-timeout"),
            default=300.0,
            metavar="SECONDS",
            help="How long to wait for the Swarm service to converge (default 300).",
        )

    def handle(
        self,
        *args: Any,
        format: str,
        output: str | None,
        to: str | None,
        steps: int,
        plan: bool,
        sql: bool,
        accept_data_loss: bool,
        restore_backup: bool,
        restore_into_other_database: bool,
        interactive: bool,
        docker_service: str | None,
        docker_image: str | None,
        docker_tag: str | None,
        docker_timeout: float,
        fake: bool,
        **options: Any,
    ) -> None:
        if fake:
            raise could_not_run(
                "rollback_release has no --fake: it reverses migrations after its checks, or restores a backup; "
                "to only unrecord migrations, run safe_migrate APP_LABEL MIGRATION_NAME --fake"
            )
        if docker_service and docker_image:
            raise could_not_run("--docker-service and --docker-image cannot be combined; choose one")
        if docker_tag and not docker_image:
            raise could_not_run("--docker-tag needs --docker-image")
        if steps < 1:
            raise could_not_run(f"--steps must be 1 or more, not {steps}")
        self.json_progress = format == "json" and not output
        self.verbosity = options["verbosity"]
        rollback_options = RollbackOptions(
            **run_options(options),
            to=to,
            steps=steps,
            accept_data_loss=accept_data_loss,
            restore_backup=restore_backup,
            restore_into_other_database=restore_into_other_database,
            docker_service=docker_service,
            docker_image=docker_image,
            docker_tag=docker_tag,
            docker_timeout=docker_timeout,
            with_sql=sql,
            confirm=self._confirm if interactive and not (plan or sql) else None,
        )
        try:
            if plan or sql:
                planned = rollback.plan_rollback(rollback_options)
                result = RollbackResult(
                    status="planned",
                    database=planned.database,
                    plan=planned,
                    state_before=planned.state_before,
                    image_target=docker_service or docker_image or "",
                )
            else:
                progress = Progress(self.verbosity, self._progress_line)
                try:
                    result = rollback.run_rollback(rollback_options, progress=progress)
                finally:
                    progress.flush()
        except rollback.CouldNotRollBack as exc:
            raise could_not_run(str(exc)) from exc
        self.emit(result, format=format, output=output, verbosity=self.verbosity)

    # --- input and output -------------------------------------------------------------------

    def _confirm(self, question: str) -> bool:
        if not sys.stdin or not sys.stdin.isatty():
            return False
        self.stdout.write(f"{question} Type 'yes' to continue: ", ending="")
        self.stdout.flush()
        return input().strip().lower() == "yes"

    def _progress_line(self, line: str) -> None:
        if self.json_progress and events.json_on_stderr():
            return  # stderr holds JSON lines (--log-format json): the migration events say the same
        stream = self.stderr if self.json_progress else self.stdout
        stream.write(line)
        stream.flush()
