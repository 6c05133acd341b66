"""``manage.py rollback_release``: back to a previous release, the database first (reversed with this
code, or restored from the release's backup), then the image. Exit 0 done, 1 refused or failed, 2 could
not run."""

from __future__ import annotations

import json
import sys
from argparse import SUPPRESS, ArgumentParser
from typing import Any

from django_cicd import rollback
from django_cicd.management.base import (
    CicdCommand,
    add_output_options,
    add_run_options,
    answer_is_no,
    could_not_run,
    run_options,
    seconds,
)
from django_cicd.planning import format_state
from django_cicd.reporting.runs import backup_line, outcome_lines, step_line
from django_cicd.rollback import RollbackOptions, RollbackPlan, RollbackResult
from django_cicd.runs import StepResult


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
                    status="planned", database=planned.database, plan=planned, state_before=planned.state_before
                )
            else:
                result = rollback.run_rollback(rollback_options, progress=self._progress)
        except rollback.CouldNotRollBack as exc:
            raise could_not_run(str(exc)) from exc
        text = self._render_text(result, rollback_options)
        rendered = json.dumps(result.as_dict(), indent=2) + "\n" if format == "json" else text
        self.write_output(rendered, output, text=text)
        if result.exit_code:
            raise answer_is_no(result.summary)

    # --- input and output -------------------------------------------------------------------

    def _confirm(self, question: str) -> bool:
        if not sys.stdin or not sys.stdin.isatty():
            return False
        self.stdout.write(f"{question} Type 'yes' to continue: ", ending="")
        self.stdout.flush()
        return input().strip().lower() == "yes"

    def _progress(self, action: str, step: StepResult) -> None:
        seconds = f" ({step.seconds:.3f}s)" if step.seconds is not None else ""
        lines = {
            "unapply_start": f"  reversing {step.label} ...",
            "unapply_success": f"  reversed  {step.label}{seconds}",
            "unapply_failed": f"  FAILED    {step.label}{seconds}",
        }
        if action in lines:
            stream = self.stderr if self.json_progress else self.stdout
            stream.write(lines[action])
            stream.flush()

    def _render_text(self, result: RollbackResult, options: RollbackOptions) -> str:
        plan = result.plan
        lines = [self._headline(plan)]
        lines.append(f"  now      {format_state(plan.state_before) or '(no migrations)'}")
        if plan.target_state:
            lines.append(f"  target   {format_state(plan.target_state)}")
        for release in plan.undone:
            lines.append(f"  undo     release {release.name} (ledger row {release.pk})")
        if plan.mode == "restore" and plan.restore is not None:
            lines.append(
                f"  restore  {plan.restore.backup_name} (sha256 {plan.restore.backup_sha256[:16]}, taken before "
                f"release {plan.restore.name})"
            )
        lines += backup_line(result)
        for step in plan.steps:
            lines.append(step_line(step, "reverse" if step.status == "pending" else None))
            lines.extend(f"    {sql}" for sql in plan.sql.get(step.label, []))
        for loss in plan.data_loss:
            what = {"rows": "row(s)", "non-default": "row(s) not at the default", "non-null": "non-NULL row(s)"}
            lines.append(f"  drops    {loss.where}: {loss.rows} {what.get(loss.counted, 'row(s)')} ({loss.migration})")
        for item in plan.irreversible:
            lines.append(f"  cannot   {item['message']}")
        if plan.window:
            lines.append(f"  window   {plan.window['summary']} (order: {plan.window['order'].replace('_', ' ')})")
            lines.extend(f"    {finding['message']}" for finding in plan.window["findings"])
            lines.extend(f"    {line}" for line in str(plan.window["steps"]).splitlines() if line.strip())
        if plan.image:
            switch = options.docker_service or options.docker_image
            how = f" on {switch}" if switch else " (no --docker-service / --docker-image: not switched)"
            lines.append(f"  image    {plan.image}{how}")
        if result.image_switch:
            lines.append(f"  switched {result.image_switch.get('summary')}")
        lines.extend(f"  refused  {refusal}" for refusal in plan.refusals)
        lines += outcome_lines(result, notes=plan.notes)
        ok = result.exit_code == 0
        lines.append((self.style.SUCCESS if ok else self.style.ERROR)(result.summary))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _headline(plan: RollbackPlan) -> str:
        source = f"release {plan.from_release}" if plan.from_release else "the current state"
        target = f"release {plan.to_release}" if plan.to_release else "?"
        how = "restore the backup" if plan.mode == "restore" else f"reverse {len(plan.steps)} migration(s)"
        return f"rollback_release on database {plan.database!r}: from {source} to {target}; {how}"
