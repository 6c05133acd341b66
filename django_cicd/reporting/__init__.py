"""Renderers of one :class:`~django_cicd.report.Report`: text, json, junit, github, gitlab, sarif.

Each renderer returns a string; :func:`render` picks one by name and passes the result through
:func:`~django_cicd.redaction.redact`, so that no format can leak a secret.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from django.core.management.color import Style, no_style

from django_cicd.redaction import redact, redact_value, secret_values
from django_cicd.report import Report

#: The module of each machine format's ``render``, imported when that format is asked for: the
#: XML and SARIF renderers are predeploy's, and safe_migrate or rollback_release need none of them.
FORMAT_MODULES: dict[str, str] = {
    "json": "json_format",
    "junit": "junit",
    "github": "github",
    "gitlab": "codequality",
    "sarif": "sarif",
}
MACHINE_FORMATS = tuple(FORMAT_MODULES)
ALL_FORMATS = ("text", *MACHINE_FORMATS)


def redact_report(report: Report) -> Report:
    """A copy of ``report`` with secrets masked in every string field, ready to be encoded."""
    secrets = secret_values()
    results = []
    for result in report.results:
        findings = [
            dataclasses.replace(
                finding,
                message=redact_value(finding.message, secrets),
                hint=redact_value(finding.hint, secrets),
                location=dataclasses.replace(finding.location, path=redact_value(finding.location.path, secrets))
                if finding.location
                else None,
                waiver=dataclasses.replace(finding.waiver, reason=redact_value(finding.waiver.reason, secrets))
                if finding.waiver
                else None,
                extra=redact_value(finding.extra, secrets),
            )
            for finding in result.findings
        ]
        results.append(
            dataclasses.replace(
                result,
                title=redact_value(result.title, secrets),
                skipped_reason=redact_value(result.skipped_reason, secrets),
                description=redact_value(result.description, secrets),
                findings=findings,
            )
        )
    return dataclasses.replace(report, results=results)


def renderer(format: str) -> Callable[..., str]:
    """The ``render`` function of ``format`` ("text" or one of :data:`MACHINE_FORMATS`)."""
    module = "text" if format == "text" else FORMAT_MODULES[format]
    return importlib.import_module(f"django_cicd.reporting.{module}").render  # type: ignore[no-any-return]


def render(report: Report, format: str, style: Style | None = None) -> str:
    """Render ``report`` in ``format``: fields are masked before encoding, the output once more after."""
    safe = redact_report(report)
    output = renderer(format)(safe, style or no_style()) if format == "text" else renderer(format)(safe)
    return redact(output)


# --- every command's result (django_cicd.results) ------------------------------------------------


def command_text(result: Any, style: Style | None = None, verbosity: int = 1) -> str:
    """The text report of any command's result, through the redaction."""
    from django_cicd.reporting import commands

    return redact(commands.text(result, style or no_style(), verbosity))


def command_json(result: Any) -> str:
    """The JSON document of any command's result: fields masked before encoding, the output after."""
    import json

    return redact(json.dumps(redact_value(result.as_dict()), indent=2) + "\n")
