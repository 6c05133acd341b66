from __future__ import annotations

import hashlib
import json

from django_cicd.planning import settings_path
from django_cicd.report import Finding, Report, Severity

_SEVERITY = {
    Severity.DEBUG: "info",
    Severity.INFO: "info",
    Severity.WARNING: "minor",
    Severity.ERROR: "major",
    Severity.CRITICAL: "critical",
}


def render(report: Report) -> str:
    """GitLab Code Quality JSON (the CodeClimate subset GitLab reads). Findings below warning are left
    out; fingerprints are stable across runs so GitLab can tell new problems from old ones."""
    issues = []
    default_path = settings_path()
    for result, finding in report.findings():
        if finding.severity < Severity.WARNING:
            continue
        path = finding.location.path if finding.location else default_path
        line = (finding.location.line if finding.location else None) or 1
        if finding.waiver is not None:
            severity = "info"
        elif finding.blocking:
            # A finding that fails the run is at least "major", whatever its own level: at the default
            # fail level (warning) a blocking warning shown as "minor" would look ignorable in the widget.
            severity = "blocker" if finding.severity >= Severity.ERROR else "major"
        else:
            severity = _SEVERITY[finding.severity]
        issues.append(
            {
                "type": "issue",
                "check_name": finding.code or result.id,
                "description": _description(finding),
                "categories": ["Bug Risk"],
                "severity": severity,
                "fingerprint": _fingerprint(result.id, finding, path),
                "location": {"path": path, "lines": {"begin": line}},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


def _description(finding: Finding) -> str:
    # Code Climate's specification: a description is a single line of text.
    text = " ".join(line.strip() for line in finding.message.splitlines() if line.strip())
    if finding.waiver is not None:
        text += f" (waived: {finding.waiver.reason})"
    return text


def _fingerprint(check_id: str, finding: Finding, path: str) -> str:
    # Durations and counts vary between runs: the fingerprint uses identity, not the whole message.
    key = "\x00".join(
        [
            check_id,
            finding.code or "",
            path,
            str(finding.location.line if finding.location else ""),
            finding.message.split(":")[0],
        ]
    )
    # surrogatepass: a file name's undecodable bytes (lone surrogates from os.fsdecode) hash too.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
