from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from django_cicd import __version__
from django_cicd.planning import settings_path
from django_cicd.report import Report, Severity, Status

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _level(severity: Severity, blocking: bool) -> str:
    if blocking or severity >= Severity.ERROR:
        return "error"
    if severity >= Severity.WARNING:
        return "warning"
    return "note"


def _uri(path: str) -> str:
    """A file path as SARIF's ``artifactLocation.uri``, which must be a URI reference: forward slashes,
    and percent-encoded UTF-8 for a space or a non-ASCII letter. A byte of the file name that did not
    decode (a lone surrogate from ``os.fsdecode``) is encoded as that byte."""
    return quote(path.replace(os.sep, "/"), safe="/", errors="surrogateescape")


def render(report: Report) -> str:
    """SARIF 2.1.0: one rule per finding code, one result per finding; waived findings carry an
    external suppression with the waiver's reason (code scanning shows them as dismissed)."""
    rules: dict[str, dict[str, Any]] = {}
    default_path = settings_path()
    results: list[dict[str, Any]] = []
    for result, finding in report.findings():
        if finding.severity < Severity.WARNING and result.status != Status.ERROR:
            continue
        code = finding.code or result.id
        if code not in rules:
            rules[code] = {
                "id": code,
                "name": result.title,
                "shortDescription": {"text": result.title},
                "fullDescription": {"text": result.description or result.title},
                "defaultConfiguration": {"level": _level(finding.severity, False)},
            }
            if finding.hint:
                rules[code]["help"] = {"text": finding.hint}
        item: dict[str, Any] = {
            "ruleId": code,
            "ruleIndex": list(rules).index(code),
            "level": _level(finding.severity, finding.blocking),
            "message": {"text": finding.message + (f"\nHint: {finding.hint}" if finding.hint else "")},
            "properties": {"check": result.id, "severity": finding.severity.label, "blocking": finding.blocking},
        }
        # GitHub code scanning rejects results without a location: configuration findings point at
        # the settings module, as in the GitLab report.
        path = finding.location.path if finding.location else default_path
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
        line = finding.location.line if finding.location else None
        physical["region"] = {"startLine": line or 1}
        item["locations"] = [{"physicalLocation": physical}]
        if finding.waiver is not None:
            item["suppressions"] = [{"kind": "external", "justification": finding.waiver.reason}]
        results.append(item)
    crashed = [r for r in report.results if r.status == Status.ERROR]
    invocation: dict[str, Any] = {"executionSuccessful": not crashed}
    if crashed:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": f"{r.id}: {r.findings[0].message if r.findings else 'crashed'}"}}
            for r in crashed
        ]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "django-cicd",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/django-cicd/",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                "invocations": [invocation],
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
