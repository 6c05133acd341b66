"""Structured events of the commands, through Python logging, for log aggregators.

Every event is one log record on the logger ``django_cicd.events``: its message is the event name and
its fields, and the fields themselves ride on the record (``record.event``, ``record.run_id``...), so
a JSON formatter (``--log-format json``, or the project's own LOGGING) writes them as keys. Each
record carries the context the command and the run engine set (:func:`context`): ``command``,
``run_id``, ``release``, ``environment``, ``database``, and always ``host`` and ``pid``. Values are
redacted (:mod:`django_cicd.redaction`) before the record is made, so no handler sees a secret.

The logger has a :class:`logging.NullHandler`, as a library's logger should: without a handler of
the project's, nothing is printed (Python's last-resort handler would print warnings to stderr, and
a command's text output must stay as it was). ``--log-format json`` adds a handler for the length
of the command (:func:`json_to_stderr`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TextIO

from django_cicd.redaction import redact, redact_value

#: The parent of every django-cicd logger; :data:`logger` is the events'.
ROOT_LOGGER = "django_cicd"
logger = logging.getLogger(f"{ROOT_LOGGER}.events")
logger.addHandler(logging.NullHandler())

#: ``--log-format`` values; ``CICD["LOG_FORMAT"]`` takes the same.
FORMATS = ("text", "json")

#: Attributes every LogRecord has: an event field of one of these names would overwrite it.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

_context: ContextVar[Mapping[str, Any]] = ContextVar("django_cicd_events", default={})  # noqa: B039 (never mutated)
_json_streams: list[TextIO] = []


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every event emitted inside the block (and in threads started with its context)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def update(**fields: Any) -> None:
    """Add ``fields`` to the context of the enclosing :func:`context` block (which ends them too)."""
    _context.set({**_context.get(), **fields})


def current(field: str) -> Any:
    """The value of ``field`` in the current context, or None."""
    return _context.get().get(field)


def run_id() -> str:
    """The run id of the current context (the command's), or a new one."""
    return str(current("run_id") or uuid.uuid4().hex)


def emit(event: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log ``event`` (``run.started``, ``migration.applied``...) with the context and ``fields``."""
    if not logger.isEnabledFor(level):
        return
    own = {key: value for key, value in fields.items() if value is not None}
    clash = _RESERVED.intersection(own)
    if clash:
        raise ValueError(f"event field names {sorted(clash)} are LogRecord attributes; rename them")
    known = {key: value for key, value in _context.get().items() if value is not None}
    data = redact_value({"event": event, **known, **own, "host": socket.gethostname(), "pid": os.getpid()})
    text = " ".join(f"{key}={value}" for key, value in data.items() if key in own)
    logger.log(level, "%s", f"{event} {text}".rstrip(), extra=data)


def json_formatter(*, redacting: bool = True) -> logging.Formatter:
    """One JSON object per record (python-json-logger): time, level, logger, message and the record's
    own fields; ``redacting``: the whole line masked again as a backstop (a few milliseconds a line,
    which the commands' few events can afford and an application's every log line cannot)."""
    from pythonjsonlogger.json import JsonFormatter

    class Formatter(JsonFormatter):
        def format(self, record: logging.LogRecord) -> str:
            line = super().format(record)
            return redact(line) if redacting else line

        def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
            # An event's fields are keys already: its message is its name, not the fields again.
            if "event" in log_data:
                log_data["message"] = log_data["event"]
            return log_data

    return Formatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def json_on_stderr() -> bool:
    """Whether a command writes its events as JSON lines on stderr now: text lines there would break them."""
    return bool(_json_streams)


@contextlib.contextmanager
def json_to_stderr(stream: TextIO | None = None) -> Iterator[None]:
    """Every django-cicd log record of the block as one JSON line on ``stream`` (stderr), from INFO up.

    The handler sits on the ``django_cicd`` logger, so the project's own LOGGING keeps working: its
    handlers still get the records."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter())
    parent = logging.getLogger(ROOT_LOGGER)
    level = parent.level
    if not parent.isEnabledFor(logging.INFO):
        parent.setLevel(logging.INFO)
    parent.addHandler(handler)
    _json_streams.append(handler.stream)
    try:
        yield
    finally:
        _json_streams.remove(handler.stream)
        parent.removeHandler(handler)
        parent.setLevel(level)
        handler.flush()
