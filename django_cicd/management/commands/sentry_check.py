"""``manage.py sentry_check``: send a test event and a check-in; did Sentry accept them?

Exit 0: both accepted; 1: Sentry answered and refused them; 2: could not run (no DSN, sentry-sdk not
installed, Sentry unreachable).
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_cicd import sentry
from django_cicd.management.base import CicdCommand, add_output_options, answer_is_no, could_not_run

SCHEMA = "django-cicd/sentry_check"
SCHEMA_VERSION = 1


class Command(CicdCommand):
    help = (
        "Send a test event and a cron check-in to the configured Sentry DSN and report whether they "
        "were accepted. Exit 0: accepted; 1: refused; 2: could not run (no DSN, unreachable)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        parser.add_argument(
            "--monitor",
            default="django-cicd-sentry-check",
            help="Slug of the cron monitor the test check-in goes to (default: django-cicd-sentry-check).",
        )
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds to wait for Sentry's answers (default: 10)."
        )

    def handle(self, *args: Any, format: str, output: str | None, monitor: str, timeout: float, **options: Any) -> None:
        try:
            result = sentry.send_test(monitor=monitor, timeout=timeout)
        except ImproperlyConfigured as exc:
            raise could_not_run(str(exc)) from exc
        document = {"schema": SCHEMA, "version": SCHEMA_VERSION, **result.as_dict()}
        text = self._text(result)
        if format == "json":
            self.write_output(json.dumps(document, indent=2) + "\n", output, text=text)
        else:
            self.write_output(text, output)
        if result.accepted:
            return
        reasons = ", ".join(sorted(set(result.failures))) or "no answer before the timeout"
        if not result.reachable:
            raise could_not_run(
                f"Sentry at {result.setup.dsn_host} could not be reached ({reasons}); check the DSN's host "
                "and that this machine may connect to it."
            )
        raise answer_is_no(
            f"Sentry at {result.setup.dsn_host} refused the test envelopes ({reasons}); check that the DSN's "
            "key is active on the project's Client Keys page."
        )

    def _text(self, result: sentry.SendTestResult) -> str:
        setup = result.setup
        lines = [
            self.style.MIGRATE_HEADING(f"sentry_check: {setup.dsn_host}"),
            f"  environment  {setup.environment} (from {setup.environment_source})",
            f"  release      {setup.release or 'unknown'}"
            + (f" (from {setup.release_source})" if setup.release_source else ""),
            f"  event        {result.event_id}",
            f"  check-in     {result.check_in_id}",
            f"  envelopes    {result.accepted_count} of {result.submitted} accepted",
        ]
        if result.accepted:
            lines.append(self.style.SUCCESS("Sentry accepted the test event and the check-in."))
        else:
            lines.append(self.style.ERROR("Sentry did not accept them: " + (", ".join(result.failures) or "timeout")))
        return "\n".join(lines) + "\n"
