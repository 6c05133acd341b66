from __future__ import annotations

from xml.etree import ElementTree as ET

from django_cicd.report import Finding, Report, Status


def render(report: Report) -> str:
    """JUnit XML: one testcase per check, as GitLab's ``reports: junit`` and Jenkins read it."""
    summary = report.summary()
    suites = ET.Element("testsuites", name="django-cicd predeploy")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="predeploy",
        tests=str(summary["checks"]),
        failures=str(summary["failed"]),
        errors=str(summary["error"]),
        skipped=str(summary["skipped"]),
        time=f"{report.duration:.3f}",
        timestamp=report.started_at.replace(microsecond=0).isoformat(),
    )
    for result in report.results:
        case = ET.SubElement(
            suite, "testcase", classname=result.id.rsplit(".", 1)[0], name=result.id, time=f"{result.duration:.3f}"
        )
        if result.status == Status.SKIPPED:
            ET.SubElement(case, "skipped", message=_xml_text(result.skipped_reason or ""))
        elif result.status in (Status.FAILED, Status.ERROR):
            tag = "failure" if result.status == Status.FAILED else "error"
            blocking = result.blocking_findings or result.findings
            first = (blocking[0].message.splitlines() or [""])[0]
            element = ET.SubElement(case, tag, message=_xml_text(first), type=blocking[0].code or "")
            element.text = _xml_text("\n\n".join(_describe(f) for f in blocking))
        notes = [f for f in result.findings if not f.blocking]
        if notes:
            ET.SubElement(case, "system-out").text = _xml_text("\n\n".join(_describe(f) for f in notes))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_NOT_XML: dict[int, str | None] = {
    **dict.fromkeys(c for c in range(32) if c not in (9, 10, 13)),
    **dict.fromkeys((0xFFFE, 0xFFFF)),
    # Lone surrogates: a file name's undecodable bytes, as os.fsdecode() gives them.
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}


def _xml_text(text: str) -> str:
    """XML 1.0 cannot hold most control characters, U+FFFE, U+FFFF or a lone surrogate, even
    escaped: drop them, and show a surrogate (an undecodable byte) as the replacement character."""
    return text.translate(_NOT_XML)


def _describe(finding: Finding) -> str:
    parts = [f"[{finding.severity.label}] {finding.code}: {finding.message}"]
    if finding.location is not None:
        parts.append(f"at {finding.location.path}" + (f":{finding.location.line}" if finding.location.line else ""))
    if finding.waiver is not None:
        parts.append(f"waived: {finding.waiver.reason}")
    if finding.hint:
        parts.append(f"hint: {finding.hint}")
    return "\n".join(parts)
