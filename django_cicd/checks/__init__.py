"""predeploy: the checks that decide whether a build may ship.

Python API::

    from django_cicd.checks import run_checks
    report = run_checks(databases=["default"], fail_level="warning")
    report.exit_code  # 0 pass, 1 fail
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from django.db import connections

from django_cicd.checks import waivers as waivers_module
from django_cicd.checks.context import REACHABLE_CHECK_ID, CheckContext
from django_cicd.checks.registry import Check, CheckFunction, SkipCheck, load_project_checks, register, registry
from django_cicd.conf import cicd_settings
from django_cicd.redaction import redact
from django_cicd.report import CheckResult, Finding, Location, Report, Severity, Status

__all__ = [
    "Check",
    "CheckContext",
    "CheckFunction",
    "Finding",
    "Location",
    "Report",
    "Severity",
    "SkipCheck",
    "register",
    "registry",
    "run_checks",
    "selected_checks",
]

WAIVERS_CHECK_ID = "cicd.waivers"


def selected_checks(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
    """The checks a run would execute; ``KeyError(selector)`` for a selector matching no check."""
    load_project_checks(cicd_settings.CHECKS)
    return registry.select(only, skip)


def run_checks(
    *,
    databases: Iterable[str] | None = None,
    use_database: bool = True,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    fail_level: str | Severity | None = None,
    environment: str | None = None,
    today: dt.date | None = None,
    options: dict[str, object] | None = None,
) -> Report:
    """Run the selected checks in this process and return the :class:`Report`."""
    started = time.perf_counter()
    if fail_level is None:
        fail_level = cicd_settings.FAIL_LEVEL
    level = fail_level if isinstance(fail_level, Severity) else Severity.parse_fail_level(fail_level)
    environment = environment if environment is not None else cicd_settings.ENVIRONMENT
    aliases = list(databases) if databases is not None else list(connections)
    for alias in aliases:
        if alias not in connections.settings:
            raise KeyError(alias)
    checks = selected_checks(only, skip)
    today = today or dt.date.today()
    context = CheckContext(
        databases=aliases,
        use_database=use_database,
        environment=environment,
        options={**(options or {}), "today": today},
        check_ids=frozenset(check.id for check in checks),
    )
    # An expired or invalid waiver fails the run whatever --only/--skip select: the waivers check is
    # always run, and shown when it has something to say or was selected.
    extra_results = []
    if WAIVERS_CHECK_ID in registry and all(check.id != WAIVERS_CHECK_ID for check in checks):
        waivers_result = _run_one(registry.get(WAIVERS_CHECK_ID), context)
        if waivers_result.findings:
            extra_results.append(waivers_result)
    report = Report(command="predeploy", fail_level=level, environment=environment, databases=aliases)
    for check in checks:
        report.results.append(_run_one(check, context))
    if (
        context.silence(probe=False)
        and REACHABLE_CHECK_ID in registry
        and all(check.id != REACHABLE_CHECK_ID for check in checks)
    ):
        # A check skipped because a database does not answer passes nothing: the run must still say
        # why, and fail, whatever --only/--skip selected.
        report.results.append(_run_one(registry.get(REACHABLE_CHECK_ID), context))
    report.results.extend(extra_results)
    _apply_waivers(report, environment, today)
    for result in report.results:
        if result.status == Status.SKIPPED:
            continue
        for finding in result.findings:
            # A crashed check blocks whatever its level: the build cannot be judged.
            finding.blocking = result.status == Status.ERROR or (finding.waiver is None and finding.severity >= level)
        if result.status != Status.ERROR:
            result.status = Status.FAILED if result.blocking_findings else Status.PASSED
    report.duration = time.perf_counter() - started
    return report


def _run_one(check: Check, context: CheckContext) -> CheckResult:
    result = CheckResult(id=check.id, title=check.title, status=Status.PASSED, description=check.description)
    started = time.perf_counter()
    try:
        if check.needs_database and not context.use_database:
            raise SkipCheck("--no-db: this check needs a database")
        findings = list(check.function(context) or [])
    except SkipCheck as exc:
        result.status = Status.SKIPPED
        result.skipped_reason = str(exc)
    except Exception as exc:  # noqa: BLE001 (a broken check must not hide the others' results)
        silence = context.silence() if check.needs_database and context.use_database else None
        if silence:
            # The database does not answer: that is the cause, and cicd.database.reachable reports it.
            result.status = Status.SKIPPED
            result.skipped_reason = silence
            result.duration = time.perf_counter() - started
            return result
        result.status = Status.ERROR
        result.findings = [
            Finding(
                message=redact(f"the check raised {type(exc).__name__}: {exc}"),
                severity=Severity.CRITICAL,
                code=check.id,
                hint="This is a bug in the check or an unexpected state; the build cannot be judged.",
            )
        ]
    else:
        for finding in findings:
            if finding.code is None:
                finding.code = check.id
        result.findings = findings
    result.duration = time.perf_counter() - started
    return result


def _apply_waivers(report: Report, environment: str | None, today: dt.date) -> None:
    waivers, _errors = waivers_module.parse_waivers(cicd_settings.WAIVERS)
    used: set[int] = set()
    for result in report.results:
        if result.id == WAIVERS_CHECK_ID or result.status == Status.ERROR:
            continue  # a waiver cannot waive the waivers check itself, nor a crash
        for finding in result.findings:
            if finding.waiver is not None:
                continue
            for index, waiver in enumerate(waivers):
                if waivers_module.applies(waiver, result.id, finding, environment, today):
                    finding.waiver = waiver
                    used.add(index)
                    break
    waiver_result = next((r for r in report.results if r.id == WAIVERS_CHECK_ID), None)
    if waiver_result is not None and waiver_result.status == Status.PASSED:
        for index, waiver in enumerate(waivers):
            if index not in used and not (waiver.expires and waiver.expires < today):
                waiver_result.findings.append(
                    Finding(
                        message=f"waiver {waiver.id!r} matched no finding in this run",
                        severity=Severity.INFO,
                        code="cicd.waivers.unused",
                        hint="Remove it from CICD['WAIVERS'] once the problem it covered is fixed.",
                    )
                )
