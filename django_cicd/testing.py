"""A pytest plugin (registered through the ``pytest11`` entry point): fixtures for your own tests.

``sentry_recorder``: Sentry initialised through :func:`django_cicd.sentry.init_sentry` (so secret
scrubbing and the deploy hooks are the real ones) with a transport that records envelopes instead of
sending them::

    def test_failed_migration_is_reported(sentry_recorder):
        ...  # run code that reports to Sentry
        [event] = sentry_recorder.events
        assert event["environment"] == "test"
        assert [c["status"] for c in sentry_recorder.checkins] == ["in_progress", "error"]

Needs sentry-sdk (``django-cicd[sentry]``); the previous Sentry client is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django_cicd.sentry import SentryRecorder


@pytest.fixture
def sentry_recorder() -> Iterator[SentryRecorder]:
    """Record what would be sent to Sentry: ``.events``, ``.checkins``, ``.envelopes``, ``.clear()``."""
    from django_cicd.sentry import recording

    with recording() as recorder:
        yield recorder
