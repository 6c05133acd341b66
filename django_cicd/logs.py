"""Container-ready logging for the application: one line in settings.

::

    from django_cicd.logs import container_logging

    LOGGING = container_logging(level=E.LOG_LEVEL)  # E: the environment contract's values

gives every log record (Django's own loggers, django-cicd's events, the project's) as one JSON object
per line on stdout, where the container runtime collects it, from ``level`` up. With
:class:`RequestIdMiddleware` in ``MIDDLEWARE``, each record logged while a request is served carries
the request id the proxy or load balancer sent (``X-Request-ID``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from django_cicd.events import json_formatter

#: The request headers a request id is read from, first found wins.
REQUEST_ID_HEADERS = ("X-Request-ID", "X-Correlation-ID")
#: What a request id may hold: a header is the client's text, and a log line must not be forged by it.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,200}$")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_request_id: ContextVar[str | None] = ContextVar("django_cicd_request_id", default=None)


def container_logging(level: str | int | None = "INFO", *, stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """A ``LOGGING`` dict: JSON lines on ``stream`` (stdout) for the root logger and Django's loggers,
    from ``level`` (a name such as ``"INFO"``, or a number; None or "" mean INFO) up.

    Django's ``mail_admins`` handler is kept on the ``django`` logger (it sends only with ``ADMINS``
    and ``DEBUG=False``); ``django.server`` (runserver) is JSON too. Loggers configured before are
    left enabled."""
    if level is None or level == "":
        level = "INFO"
    if isinstance(level, str):
        level = level.strip().upper()
        if level not in _LEVELS:
            raise ValueError(f"container_logging(level={level!r}): choose one of {', '.join(_LEVELS)}")
    elif isinstance(level, bool) or not isinstance(level, int):
        raise ValueError(f"container_logging(level={level!r}): give a level name such as 'INFO'")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        },
        "formatters": {"json": {"()": json_formatter, "redacting": False}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": stream,
                "formatter": "json",
                "filters": ["request_id"],
            },
            "mail_admins": {
                "level": "ERROR",
                "filters": ["require_debug_false"],
                "class": "django.utils.log.AdminEmailHandler",
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Django's DEFAULT_LOGGING gives these handlers of their own (text on stderr): replaced, so
            # that their records reach the root's JSON handler.
            "django": {"handlers": ["mail_admins"], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            "django_cicd": {"handlers": [], "level": level, "propagate": True},
        },
    }


def request_id() -> str | None:
    """The id of the request being served in this context (from :data:`REQUEST_ID_HEADERS`), or None."""
    return _request_id.get()


def request_id_of(request: HttpRequest) -> str | None:
    """The request id ``request`` brings, when it has a well-formed one."""
    for header in REQUEST_ID_HEADERS:
        value = request.headers.get(header, "").strip()
        if value and _REQUEST_ID.match(value):
            return value
    return None


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record logged while a request with an id is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            value = request_id()
            if value is None:
                request = getattr(record, "request", None)  # django.request's records carry the request
                if isinstance(request, HttpRequest):
                    value = request_id_of(request)
            if value is not None:
                record.request_id = value
        return True


class RequestIdMiddleware:
    """Makes the request id (``X-Request-ID``) known to the logs for the length of the request, and
    sends it back in the response. Put it first in ``MIDDLEWARE``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self._acall(request)
        value = request_id_of(request)
        token = _request_id.set(value)
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            _request_id.reset(token)
        return _answered(response, value)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        value = request_id_of(request)
        token = _request_id.set(value)
        try:
            response: HttpResponse = await self.get_response(request)
        finally:
            _request_id.reset(token)
        return _answered(response, value)


def _answered(response: HttpResponse, value: str | None) -> HttpResponse:
    if value is not None and REQUEST_ID_HEADERS[0] not in response.headers:
        response.headers[REQUEST_ID_HEADERS[0]] = value
    return response
