"""What a run blocked by the safety analysis tells its user: where each finding is accepted.

A finding in a migration of the project's own apps is accepted in that migration (the reason sits
beside the operation, in review); only a finding in a third-party app's migration, which the
project cannot edit, is accepted in ``CICD["MIGRATION_SAFETY"]``. ``--allow-unsafe`` accepts every
blocking finding for one run (:meth:`SafetyReport.accept_unsafe`); accepted findings are reported as
accepted with their reason, never as blocked.
"""

from __future__ import annotations

from collections.abc import Iterable

from django_cicd.migrations_safety.findings import SafetyFinding
from django_cicd.migrations_safety.rules import RULES

WHY = "why it is safe here"


def gate_hint(findings: Iterable[SafetyFinding]) -> str:
    """The hint of a blocked run: for each blocking finding, where to accept it, with the real names.

    Findings that are not blocking are left out; an empty string when none is.
    """
    blocking = [f for f in findings if f.blocking]
    if not blocking:
        return ""
    own: dict[str, list[SafetyFinding]] = {}
    third_party: dict[str, list[SafetyFinding]] = {}
    unacceptable: list[SafetyFinding] = []
    for finding in blocking:
        if not RULES[finding.rule_id].acceptable:
            unacceptable.append(finding)
        elif finding.third_party:
            third_party.setdefault(finding.app_label, []).append(finding)
        else:
            own.setdefault(finding.migration_label, []).append(finding)
    lines: list[str] = []
    if own:
        lines.append("To accept a finding, give the reason in its migration (your own code, reviewed with it):")
        for label, found in own.items():
            where = found[0].location.path if found[0].location else label
            lines.append(f"  {where}: cicd_accept = {{{_accepts(found)}}} on the Migration class,")
            operation = next((f for f in found if f.operation_index is not None), None)
            if operation is not None:
                line = f" (line {operation.location.line})" if operation.location and operation.location.line else ""
                lines.append(
                    f'    or accept(<operation {operation.operation_index}>{line}, "{operation.rule_id}", '
                    f'"{WHY}") for one operation (from django_cicd.migrations_safety import accept).'
                )
    if third_party:
        lines.append("Third-party migrations, which you do not edit, are accepted in the settings:")
        apps = ", ".join(f'"{app}": {{"accept": {{{_accepts(found)}}}}}' for app, found in third_party.items())
        lines.append(f'  CICD["MIGRATION_SAFETY"] = {{{apps}}}')
    for finding in unacceptable:
        lines.append(f"{finding.migration_label}: {finding.rule_id} cannot be accepted; fix what it names.")
    if own:
        lines.append("Or change those migrations as each finding's numbered steps say.")
    lines.append("--allow-unsafe runs this plan anyway, for this run only, and reports the findings as accepted.")
    return "\n".join(lines)


def _accepts(findings: list[SafetyFinding]) -> str:
    rules = dict.fromkeys(f.rule_id for f in findings)
    return ", ".join(f'"{rule}": "{WHY}"' for rule in rules)
