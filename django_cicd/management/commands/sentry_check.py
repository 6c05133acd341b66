"""``manage.py sentry_check``: send a test event and a check-in; did Sentry accept them?

Exit 0: both accepted; 1: Sentry answered and refused them; 2: could not run (no DSN, sentry-sdk not
installed, Sentry unreachable).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_cicd import sentry
from django_cicd.management.base import CicdCommand, add_output_options, could_not_run


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
        self.emit(result, format=format, output=output, verbosity=options["verbosity"])
