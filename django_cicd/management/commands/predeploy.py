"""``manage.py predeploy``: is this build fit to ship? Exit 0 yes, 1 no, 2 could not run."""

from __future__ import annotations

import logging
import os
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from django_cicd import events
from django_cicd.checks import run_checks, selected_checks
from django_cicd.checks.builtin.migrations_safety import SELECTION_OPTION
from django_cicd.management.base import CicdCommand, Reported, add_output_options, could_not_run
from django_cicd.migrations_safety import SelectionError, named_migrations
from django_cicd.migrations_safety import migrations_since as migrations_since_ref
from django_cicd.redaction import redact
from django_cicd.report import Report, Severity
from django_cicd.reporting import ALL_FORMATS, redact_report, render
from django_cicd.reporting.github import step_summary


class Command(CicdCommand):
    help = (
        "Run every check that decides whether this build may ship (Django deploy checks, migrations, "
        "databases, caches, backups, static files, ...) and report them for CI. "
        "Exit 0: ship it; 1: a check failed at the fail level; 2: could not run."
    )
    # The first of our checks runs Django's system checks itself, deploy tag included, and reports
    # them in the chosen format; the automatic run would print them again, unformatted.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser, ALL_FORMATS)
        parser.add_argument(
            "--database",
            action="append",
            dest="databases",
            metavar="ALIAS",
            help="A database alias to check (repeatable; default: every alias in DATABASES).",
        )
        parser.add_argument(
            "--no-db",
            action="store_true",
            help="For CI stages without a database: checks that need one are reported as skipped.",
        )
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            metavar="ID",
            help="Run only these checks (id, prefix or glob; repeatable).",
        )
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            metavar="ID",
            help="Skip these checks (id, prefix or glob; repeatable).",
        )
        parser.add_argument(
            "--fail-level",
            choices=[level.label for level in Severity if level >= Severity.WARNING],
            default=None,
            help="Lowest severity that fails the run (default: CICD['FAIL_LEVEL'], else warning).",
        )
        parser.add_argument(
            "--environment",
            default=None,
            help="The stage being deployed to (default: CICD['ENVIRONMENT'] or $DJANGO_ENV).",
        )
        parser.add_argument(
            "--expect-migrated",
            action="store_true",
            help="Fail when migrations are unapplied (for a check after the deploy, not before it).",
        )
        selection = parser.add_mutually_exclusive_group()
        selection.add_argument(
            "--migrations-since",
            metavar="REF",
            default=None,
            help="The migration safety checks analyse the migration files added since this git ref "
            "(e.g. origin/main) instead of the plan pending on each database.",
        )
        selection.add_argument(
            "--migrations",
            metavar="APP.NAME,...",
            default=None,
            dest="migration_names",
            help="The migration safety checks analyse these migrations (comma-separated; a name may be a "
            "unique prefix such as catalog.0012) instead of the plan pending on each database.",
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_checks", help="List every check with its id and title."
        )

    def handle(
        self,
        *args: Any,
        format: str,
        output: str | None,
        databases: list[str] | None,
        no_db: bool,
        only: list[str],
        skip: list[str],
        fail_level: str | None,
        environment: str | None,
        list_checks: bool,
        expect_migrated: bool,
        migrations_since: str | None,
        migration_names: str | None,
        **options: Any,
    ) -> None:
        try:
            # --list shows every check, opt-in ones included; a run takes the default ones.
            checks = selected_checks(only or (["*"] if list_checks else []), skip)
        except KeyError as exc:
            raise could_not_run(
                f"no check matches {exc.args[0]!r}; run `manage.py predeploy --list` to see the check ids"
            ) from None
        except ImproperlyConfigured as exc:
            raise could_not_run(str(exc)) from exc
        if list_checks:
            width = max((len(c.id) for c in checks), default=0)
            for check in checks:
                notes = ("  (skipped under --no-db)" if check.needs_database else "") + (
                    "" if check.default else "  (opt-in: select it with --only)"
                )
                self.stdout.write(f"{check.id:<{width}}  {check.title}{notes}")
            return
        if databases:
            unknown = [alias for alias in databases if alias not in connections.settings]
            if unknown:
                raise could_not_run(
                    f"unknown database alias {unknown[0]!r}; DATABASES has: {', '.join(connections.settings)}"
                )
        check_options: dict[str, object] = {"expect_migrated": expect_migrated}
        if migrations_since is not None or migration_names is not None:
            try:
                if migrations_since is not None:
                    selection = migrations_since_ref(migrations_since)
                else:
                    selection = named_migrations(migration_names or "")
            except SelectionError as exc:
                option = "--migrations-since" if migrations_since is not None else "--migrations"
                raise could_not_run(f"{option}: {exc}") from None
            check_options[SELECTION_OPTION] = selection
        try:
            report = run_checks(
                databases=databases,
                use_database=not no_db,
                only=only,
                skip=skip,
                fail_level=fail_level,
                environment=environment,
                options=check_options,
            )
        except (ImproperlyConfigured, ValueError) as exc:
            raise could_not_run(str(exc)) from exc
        log_report(report)
        text = render(report, "text", self.style)
        if format == "text":
            self.write_output(text, output)
        else:
            self.write_output(render(report, format), output, text=text)
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if format == "github" and summary_file:
            try:
                with open(summary_file, "a", encoding="utf-8") as handle:
                    handle.write(redact(step_summary(redact_report(report))))
            except OSError as exc:
                self.stderr.write(f"warning: cannot append to $GITHUB_STEP_SUMMARY ({summary_file}): {exc.strerror}")
        if not report.passed:
            raise Reported(redact(report.summary_line()), returncode=int(report.exit_code))


def log_report(report: Report) -> None:
    """One ``check.result`` event per check, then ``predeploy.outcome`` (django_cicd.events)."""
    for result in report.results:
        blocking = len(result.blocking_findings)
        events.emit(
            "check.result",
            logging.WARNING if blocking else logging.INFO,
            check=result.id,
            status=result.status.value,
            findings=len(result.findings),
            blocking=blocking,
            seconds=round(result.duration, 4),
        )
    events.emit(
        "predeploy.outcome",
        logging.INFO if report.passed else logging.ERROR,
        passed=report.passed,
        exit_code=int(report.exit_code),
        environment=report.environment,
        summary=report.summary_line(),
    )
