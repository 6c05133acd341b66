from __future__ import annotations

from django.core.management.color import Style

from django_cicd.report import Finding, Report, Severity, Status

_STATUS_LABEL = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.SKIPPED: "SKIP", Status.ERROR: "ERROR"}


def render(report: Report, style: Style) -> str:
    """Aligned, coloured through the command's ``style``, one line per check, its findings below."""
    paint = {
        Status.PASSED: style.SUCCESS,
        Status.FAILED: style.ERROR,
        Status.SKIPPED: style.WARNING,
        Status.ERROR: style.ERROR,
    }
    width = max((len(r.id) for r in report.results), default=10)
    lines = [
        style.MIGRATE_HEADING(
            f"predeploy: {len(report.results)} checks, environment {report.environment or 'unset'}, "
            f"databases {', '.join(report.databases) or 'none'}, fail level {report.fail_level.label}"
        )
    ]
    for result in report.results:
        label = paint[result.status](f"{_STATUS_LABEL[result.status]:<5}")
        lines.append(f"  {label} {result.id:<{width}}  {result.title}  ({result.duration:.2f}s)")
        if result.skipped_reason:
            lines.append(f"          skipped: {result.skipped_reason}")
        for finding in result.findings:
            lines.extend(_finding_lines(finding, style))
    summary = report.summary_line()
    lines.append(style.SUCCESS(summary) if report.passed else style.ERROR(summary))
    return "\n".join(lines) + "\n"


def _finding_lines(finding: Finding, style: Style) -> list[str]:
    if finding.waiver is not None:
        marker = style.WARNING(f"{'waived':<8}")  # padded like the levels, so the codes line up
    elif finding.blocking:
        marker = style.ERROR(f"{finding.severity.label:<8}")
    elif finding.severity >= Severity.WARNING:
        marker = style.WARNING(f"{finding.severity.label:<8}")
    else:
        marker = f"{finding.severity.label:<8}"
    where = ""
    if finding.location is not None:
        where = f" [{finding.location.path}{f':{finding.location.line}' if finding.location.line else ''}]"
    code = f"{finding.code}: " if finding.code else ""
    out = []
    for index, line in enumerate(finding.message.splitlines() or [""]):
        out.append(f"          {marker} {code}{line}{where}" if index == 0 else f"                   {line}")
    if finding.waiver is not None:
        expiry = f", until {finding.waiver.expires}" if finding.waiver.expires else ""
        out.append(f"                   waived: {finding.waiver.reason}{expiry}")
    if finding.hint:
        for index, line in enumerate(finding.hint.splitlines()):
            out.append(f"                   {'hint: ' if index == 0 else '      '}{line}")
    return out
