"""The text of ``manage.py sentry_check``."""

from __future__ import annotations

from typing import Any

from django.core.management.color import Style


def sentry_check_text(result: Any, style: Style, verbosity: int = 1) -> str:
    setup = result.setup
    lines = []
    if verbosity >= 1:
        lines = [
            style.MIGRATE_HEADING(f"sentry_check: {setup.dsn_host}"),
            f"  environment  {setup.environment} (from {setup.environment_source})",
            f"  release      {setup.release or 'unknown'}"
            + (f" (from {setup.release_source})" if setup.release_source else ""),
            f"  event        {result.event_id}",
            f"  check-in     {result.check_in_id}",
            f"  envelopes    {result.accepted_count} of {result.submitted} accepted",
        ]
    lines.append((style.SUCCESS if result.accepted else style.ERROR)(result.summary))
    return "\n".join(lines) + "\n"
