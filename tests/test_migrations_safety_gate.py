"""Accepted means accepted (issue 13, part 5): a finding accepted in the migration, in the settings or
by --allow-unsafe is reported as accepted with its reason, never as blocked; the hint of a blocked
run says where each finding is accepted: in the migration for the project's own apps, in
CICD["MIGRATION_SAFETY"] only for third-party apps."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_cicd import planning
from django_cicd.migrations_safety import SafetyReport, analyse_plan
from django_cicd.migrations_safety.gate import gate_hint

pytestmark = pytest.mark.django_db(databases="__all__")

WHY = "why it is safe here"


def accepted_scenario() -> SafetyReport:
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.accepted"}):
        loader = planning.load_graph()
        applied = {key for key in loader.graph.nodes if key[0] != "catalog"} | {("catalog", "0001_initial")}
        return analyse_plan(planning.forward_plan(loader, applied), loader=loader)


def contenttypes_0002_pending() -> SafetyReport:
    """Django's own contenttypes.0002 (a RemoveField) pending: a third-party migration."""
    loader = planning.load_graph()
    pending = {("contenttypes", "0002_remove_content_type_name")}
    queue = list(pending)
    while queue:
        for child in loader.graph.node_map[queue.pop()].children:
            if child.key not in pending:
                pending.add(child.key)
                queue.append(child.key)
    plan = planning.forward_plan(loader, set(loader.graph.nodes) - pending)
    return analyse_plan(plan, loader=loader)


def test_an_accepted_finding_is_reported_as_accepted_with_its_reason():
    report = accepted_scenario()
    statuses = {(f.migration_name, f.rule_id.removeprefix("cicd.safety.")): f for f in report.findings}
    removed = statuses[("0002_remove_gadget_legacy", "remove_field")]
    assert removed.status == "accepted" and not removed.blocking
    assert removed.as_dict()["status"] == "accepted"
    assert removed.as_dict()["accepted_reason"] == "Gadget.legacy is unused since release 41 (state removed there)"
    assert removed.as_finding().extra["status"] == "accepted"
    assert statuses[("0003_delete_legacy_rename_widget", "rename_model")].status == "blocked"


def test_allow_unsafe_accepts_every_blocking_finding_for_the_run():
    report = accepted_scenario()
    blocking = report.blocking
    assert blocking
    accepted = report.accept_unsafe("--allow-unsafe (CI job 4711)")
    assert accepted == blocking
    assert report.blocking == []
    assert {f.status for f in accepted} == {"accepted"}
    assert {f.accepted_reason for f in accepted} == {"--allow-unsafe (CI job 4711)"}
    assert [f.as_dict()["status"] for f in report.findings].count("blocked") == 0
    assert gate_hint(report.findings) == ""


def test_the_hint_points_at_the_migration_for_the_projects_own_apps():
    report = accepted_scenario()
    assert not any(f.third_party for f in report.findings)
    assert gate_hint(report.findings).splitlines() == [
        "To accept a finding, give the reason in its migration (your own code, reviewed with it):",
        "  tests/scenarios/safety/accepted/0003_delete_legacy_rename_widget.py: cicd_accept = "
        f'{{"cicd.safety.rename_model": "{WHY}"}} on the Migration class,',
        f'    or accept(<operation 1> (line 15), "cicd.safety.rename_model", "{WHY}") for one operation '
        "(from django_cicd.migrations_safety import accept).",
        "  tests/scenarios/safety/accepted/0004_gadget_sku.py: cicd_accept = "
        f'{{"cicd.safety.add_field_not_null": "{WHY}"}} on the Migration class,',
        f'    or accept(<operation 0> (line 10), "cicd.safety.add_field_not_null", "{WHY}") for one operation '
        "(from django_cicd.migrations_safety import accept).",
        "  tests/scenarios/safety/accepted/0005_remove_gadget_serial.py: cicd_accept = "
        f'{{"cicd.safety.remove_field": "{WHY}"}} on the Migration class,',
        f'    or accept(<operation 0> (line 10), "cicd.safety.remove_field", "{WHY}") for one operation '
        "(from django_cicd.migrations_safety import accept).",
        "catalog.0004_gadget_sku: cicd.safety.acceptance_invalid cannot be accepted; fix what it names.",
        "catalog.0005_remove_gadget_serial: cicd.safety.acceptance_invalid cannot be accepted; fix what it names.",
        "Or change those migrations as each finding's numbered steps say.",
        "--allow-unsafe runs this plan anyway, for this run only, and reports the findings as accepted.",
    ]
    assert "CICD" not in gate_hint(report.findings)


def test_the_hint_points_at_the_settings_only_for_third_party_apps():
    report = contenttypes_0002_pending()
    [finding] = report.blocking
    assert (finding.migration_label, finding.rule_id) == (
        "contenttypes.0002_remove_content_type_name",
        "cicd.safety.remove_field",
    )
    assert finding.third_party
    assert gate_hint(report.findings).splitlines() == [
        "Third-party migrations, which you do not edit, are accepted in the settings:",
        f'  CICD["MIGRATION_SAFETY"] = {{"contenttypes": {{"accept": {{"cicd.safety.remove_field": "{WHY}"}}}}}}',
        "--allow-unsafe runs this plan anyway, for this run only, and reports the findings as accepted.",
    ]


def test_a_third_party_finding_accepted_in_the_settings_is_accepted(cicd_settings):
    cicd_settings(MIGRATION_SAFETY={"contenttypes": {"accept": {"cicd.safety.remove_field": "name is unused"}}})
    [finding] = [f for f in contenttypes_0002_pending().findings if f.rule_id == "cicd.safety.remove_field"]
    assert (finding.status, finding.accepted_reason) == ("accepted", "name is unused")
