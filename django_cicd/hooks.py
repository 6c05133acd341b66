"""Signals sent by the commands that change a database, so that reporting (Sentry) plugs in.

Receivers must not raise: a failure to report never changes the outcome of a deploy. The sender
is the command name (``"safe_migrate"``, ``"rollback_release"``).

``run_started``: ``run_id`` (str, unique per run), ``release`` (str), ``environment`` (str | None),
``database`` (str).

``run_finished``: the same, plus ``ok`` (bool), ``exit_code`` (int), ``error`` (BaseException | None),
``summary`` (str, already redacted), ``details`` (dict: for a rollback ``from_release`` and
``to_release``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from django_cicd.redaction import redact

logger = logging.getLogger("django_cicd")

run_started = Signal()
run_finished = Signal()


def send_safely(signal: Signal, sender: str, **kwargs: Any) -> None:
    """Send ``signal``; log and swallow receivers' exceptions."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.warning("django-cicd: a %s receiver (%r) failed: %s", sender, receiver, redact(str(result)))
