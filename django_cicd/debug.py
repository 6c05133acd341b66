"""Keep secret values off Django's debug pages and error e-mails.

Kept apart from :mod:`django_cicd.env` so that importing the settings does not import Django's views.
In the settings::

    DEFAULT_EXCEPTION_REPORTER_FILTER = "django_cicd.debug.SecretsExceptionReporterFilter"
    DEFAULT_EXCEPTION_REPORTER = "django_cicd.debug.SecretsExceptionReporter"
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from django_cicd.redaction import redact, secret_values


def _hidden_settings_pattern() -> re.Pattern[str]:
    return re.compile(SafeExceptionReporterFilter.hidden_settings.pattern + "|DSN|CREDENTIAL|PRIVATE", flags=re.I)


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, plus: every known secret value (the contract's secrets, database and cache
    passwords, the Sentry DSN key, ...) is masked wherever it appears, in any setting, request
    header or environment entry (``runserver`` puts the process environment into ``request.META``),
    and local variables. Set ``DEFAULT_EXCEPTION_REPORTER_FILTER`` to this class."""

    hidden_settings = _hidden_settings_pattern()

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return redact(cleansed) if isinstance(cleansed, str) else cleansed

    def get_safe_request_meta(self, request: Any) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        return {key: redact(value) if isinstance(value, str) else value for key, value in meta.items()}

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        secrets = secret_values()
        cleaned = []
        for name, value in variables:
            if isinstance(value, str):
                value = redact(value, secrets)
            elif secrets and any(secret in _safe_repr(value) for secret in secrets):
                value = self.cleansed_substitute
            cleaned.append((name, value))
        return cleaned


class SecretsExceptionReporter(ExceptionReporter):
    """Django's reporter with every known secret value masked in the whole rendered page and text
    (the exception message, chained causes and frame variables are shown verbatim otherwise). Set
    ``DEFAULT_EXCEPTION_REPORTER`` to this class."""

    def get_traceback_html(self) -> SafeString:
        secrets = secret_values()
        escaped = [str(escape(secret)) for secret in secrets]
        page = redact(str(super().get_traceback_html()), sorted({*secrets, *escaped}, key=len, reverse=True))
        return mark_safe(page)  # noqa: S308 (Django's own page, with text replaced by a fixed mask)

    def get_traceback_text(self) -> SafeString:
        return mark_safe(redact(str(super().get_traceback_text())))  # noqa: S308 (as above)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 (a broken __repr__ must not break the error page)
        return ""
