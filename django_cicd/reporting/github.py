from __future__ import annotations

from django_cicd.report import Finding, Report, Severity, Status


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(finding: Finding) -> str | None:
    if finding.blocking:
        return "error"
    if finding.severity >= Severity.WARNING:
        return "warning"
    return None


def render(report: Report) -> str:
    """GitHub Actions workflow commands: an annotation per blocking finding (error) and per
    non-blocking warning, with file and line where the finding has them; then the summary line."""
    lines = []
    for result, finding in report.findings():
        command = _command(finding)
        if command is None and result.status != Status.ERROR:
            continue
        command = command or "error"
        properties = [f"title={_escape_property(f'{finding.code} ({result.id})')}"]
        if finding.location is not None:
            properties.insert(0, f"file={_escape_property(finding.location.path)}")
            if finding.location.line:
                properties.insert(1, f"line={finding.location.line}")
        message = finding.message
        if finding.waiver is not None:
            message += f"\nwaived: {finding.waiver.reason}"
        if finding.hint:
            message += f"\nhint: {finding.hint}"
        lines.append(f"::{command} {','.join(properties)}::{_escape_data(message)}")
    lines.append(report.summary_line())
    return "\n".join(lines) + "\n"


def step_summary(report: Report) -> str:
    """Markdown appended to ``$GITHUB_STEP_SUMMARY``: a table of checks, then the blocking findings."""
    icon = {Status.PASSED: "✅", Status.FAILED: "❌", Status.SKIPPED: "⏭️", Status.ERROR: "💥"}
    out = [f"### predeploy {'passed' if report.passed else 'failed'}", "", report.summary_line(), ""]
    out += ["| | check | title | findings | time |", "|---|---|---|---|---|"]
    for result in report.results:
        out.append(
            f"| {icon[result.status]} | `{result.id}` | {_cell(result.title)} | {len(result.findings)} "
            f"| {result.duration:.2f}s |"
        )
    blocking = [(r, f) for r, f in report.findings() if f.blocking]
    if blocking:
        out += ["", "#### Blocking findings", ""]
        for _result, finding in blocking:
            where = f" (`{finding.location.path}:{finding.location.line or ''}`)" if finding.location else ""
            out.append(f"- **{finding.code}**{where}: {_cell(finding.message)}")
            if finding.hint:
                out.append(f"  - hint: {_cell(finding.hint)}")
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
