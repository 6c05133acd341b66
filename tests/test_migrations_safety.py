"""The migration safety analysis: every rule flags its case and passes its near-miss, on the vendor of
the run (SQLite, PostgreSQL or MariaDB; vendor-scoped rules are asserted absent elsewhere).

The scenarios swap the migrations of the ``catalog`` app for a package under
``tests/scenarios/safety/``; ``catalog.0001_initial`` of the scenario counts as applied, so the plan is
every later migration of the package, on tables that exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_cicd import planning
from django_cicd.migrations_safety import RULES, SafetyReport, analyse_plan
from django_cicd.planning import PlanStep
from django_cicd.report import Severity
from tests.test_migrations_safety_sizes import SIZED_FLAGGED, SIZED_NEAR_MISSES
from tests.utils import ROOT, run_command

pytestmark = pytest.mark.django_db(databases="__all__")

VENDOR = connection.vendor
ALL = ("sqlite", "postgresql", "mysql")
PG = ("postgresql",)
MY = ("mysql",)
SCENARIOS = ROOT / "tests" / "scenarios" / "safety"


def scenario_plan(package: str, direction: str = "forwards") -> tuple[list[PlanStep], object]:
    loader = planning.load_graph()
    applied = {key for key in loader.graph.nodes if key[0] != "catalog"} | {("catalog", "0001_initial")}
    plan = planning.forward_plan(loader, applied)
    if direction == "backwards":
        plan = [PlanStep(step.migration, backwards=True) for step in reversed(plan)]
    return plan, loader


def analyse(package: str, direction: str = "forwards", **kwargs) -> SafetyReport:
    with override_settings(MIGRATION_MODULES={"catalog": f"tests.scenarios.safety.{package}"}):
        plan, loader = scenario_plan(package, direction)
        return analyse_plan(plan, loader=loader, direction=direction, **kwargs)


def found(report: SafetyReport) -> set[tuple[str, str]]:
    return {(f.migration_name, f.rule_id.removeprefix("cicd.safety.")) for f in report.findings}


# (package, migration, rule, direction, vendors where it must be flagged)
FLAGGED = [
    ("flagged", "0002_remove_gadget_legacy", "remove_field", "forwards", ALL),
    ("flagged", "0003_delete_legacy", "delete_model", "forwards", ALL),
    ("flagged", "0004_rename_gadget_name_label", "rename_field", "forwards", ALL),
    ("flagged", "0005_rename_widget_gizmo", "rename_model", "forwards", ALL),
    ("flagged", "0006_alter_thing_table", "alter_model_table", "forwards", ALL),
    ("flagged", "0007_alter_gadget_size", "alter_field_type", "forwards", ALL),
    ("flagged", "0007_alter_gadget_size", "pg_column_rewrite", "forwards", PG),
    ("flagged", "0007_alter_gadget_size", "mysql_table_copy", "forwards", MY),
    ("flagged", "0008_alter_gadget_nickname", "alter_field_null", "forwards", ALL),
    ("flagged", "0008_alter_gadget_nickname", "pg_set_not_null", "forwards", PG),
    ("flagged", "0009_gadget_sku", "add_field_not_null", "forwards", ALL),
    ("flagged", "0010_gadget_code_uniq", "add_unique", "forwards", ALL),
    ("flagged", "0010_gadget_code_uniq", "pg_index_not_concurrent", "forwards", PG),
    ("flagged", "0011_gadget_notes_idx", "pg_index_not_concurrent", "forwards", PG),
    ("flagged", "0012_gadget_maker", "pg_foreign_key_not_valid", "forwards", PG),
    ("flagged", "0012_gadget_maker", "pg_index_not_concurrent", "forwards", PG),
    ("flagged", "0012_gadget_maker", "mysql_table_copy", "forwards", MY),
    ("flagged", "0013_gadget_weight_check", "pg_check_not_valid", "forwards", PG),
    ("flagged", "0014_gadget_score", "pg_volatile_default", "forwards", PG),
    ("flagged", "0015_fill_gadgets", "irreversible", "forwards", ALL),
    ("flagged", "0016_touch_gadgets", "noop_reverse", "forwards", ALL),
    ("flagged", "0017_update_gadgets_sql", "irreversible", "forwards", ALL),
    ("flagged", "0018_gadget_unique_together", "add_unique", "forwards", ALL),
    ("flagged", "0018_gadget_unique_together", "pg_index_not_concurrent", "forwards", PG),
    ("flagged", "0019_remove_gadget_serial", "remove_field", "forwards", ALL),
    ("flagged", "0021_clean_parts", "reverse_data_migration", "backwards", ALL),
    ("flagged", "0020_part", "reverse_drops_table", "backwards", ALL),
    ("flagged", "0019_remove_gadget_serial", "reverse_not_null_without_default", "backwards", ALL),
    ("flagged", "0017_update_gadgets_sql", "irreversible", "backwards", ALL),
    ("flagged", "0016_touch_gadgets", "noop_reverse", "backwards", ALL),
    ("flagged", "0015_fill_gadgets", "irreversible", "backwards", ALL),
    ("flagged", "0014_gadget_score", "reverse_drops_column", "backwards", ALL),
    ("flagged", "0012_gadget_maker", "reverse_drops_column", "backwards", ALL),
    ("flagged", "0009_gadget_sku", "reverse_drops_column", "backwards", ALL),
    ("flagged", "0023_remove_gadget_notes_idx", "pg_drop_index_not_concurrent", "forwards", PG),
    ("flagged", "0022_remove_gadget_code_uniq", "window_unique", "backwards", ALL),
    ("flagged", "0020_part", "window_drops_table", "backwards", ALL),
    ("flagged", "0014_gadget_score", "window_drops_column", "backwards", ALL),
    ("flagged", "0012_gadget_maker", "window_drops_column", "backwards", ALL),
    ("flagged", "0009_gadget_sku", "window_drops_column", "backwards", ALL),
    ("flagged", "0006_alter_thing_table", "window_rename", "backwards", ALL),
    ("flagged", "0005_rename_widget_gizmo", "window_rename", "backwards", ALL),
    ("flagged", "0004_rename_gadget_name_label", "window_rename", "backwards", ALL),
    ("flagged", "0002_remove_gadget_legacy", "window_not_null_column", "backwards", ALL),
    ("accepted", "0004_gadget_sku", "acceptance_invalid", "forwards", ALL),
    ("accepted", "0005_remove_gadget_serial", "acceptance_invalid", "forwards", ALL),
    ("unrenderable", "0002_gadget_unique_together", "sql_not_rendered", "forwards", ALL),
]

# (package, migration, rule, direction, vendors): the same rule must NOT be found there.
NEAR_MISSES = [
    ("near_miss", "0002_forget_gadget_legacy", "remove_field", "forwards", ALL),
    ("near_miss", "0003_forget_legacy", "delete_model", "forwards", ALL),
    ("near_miss", "0004_rename_gadget_name_keep_column", "rename_field", "forwards", ALL),
    ("near_miss", "0005_rename_widget_keep_table", "rename_model", "forwards", ALL),
    ("near_miss", "0005_rename_widget_keep_table", "alter_model_table", "forwards", ALL),
    ("near_miss", "0006_widen_gadget_notes", "alter_field_type", "forwards", ALL),
    ("near_miss", "0006_widen_gadget_notes", "pg_column_rewrite", "forwards", PG),
    ("near_miss", "0006_widen_gadget_notes", "mysql_table_copy", "forwards", MY),
    ("near_miss", "0007_gadget_notes_nullable", "alter_field_null", "forwards", ALL),
    ("near_miss", "0007_gadget_notes_nullable", "pg_set_not_null", "forwards", PG),
    ("near_miss", "0008_gadget_sku_color", "add_field_not_null", "forwards", ALL),
    ("near_miss", "0009_part", "add_unique", "forwards", ALL),
    ("near_miss", "0009_part", "pg_index_not_concurrent", "forwards", PG),
    ("near_miss", "0010_gadget_maker_no_constraint", "pg_foreign_key_not_valid", "forwards", PG),
    ("near_miss", "0010_gadget_maker_no_constraint", "mysql_table_copy", "forwards", MY),
    ("near_miss", "0012_gadget_created", "pg_volatile_default", "forwards", PG),
    ("near_miss", "0011_fill_gadgets", "irreversible", "forwards", ALL),
    ("near_miss", "0011_fill_gadgets", "noop_reverse", "forwards", ALL),
    ("near_miss", "0011_fill_gadgets", "irreversible", "backwards", ALL),
    ("near_miss", "0013_shadow_state", "reverse_drops_column", "backwards", ALL),
    ("near_miss", "0013_shadow_state", "reverse_drops_table", "backwards", ALL),
    ("flagged", "0016_touch_gadgets", "reverse_data_migration", "backwards", ALL),
    ("flagged", "0002_remove_gadget_legacy", "reverse_not_null_without_default", "backwards", ALL),
    ("accepted", "0002_remove_gadget_legacy", "acceptance_invalid", "forwards", ALL),
    ("near_miss", "0002_forget_gadget_legacy", "sql_not_rendered", "forwards", ALL),
    ("near_miss_postgresql", "0002_gadget_notes_idx_concurrently", "pg_index_not_concurrent", "forwards", PG),
    ("near_miss_postgresql", "0003_gadget_weight_check_not_valid", "pg_check_not_valid", "forwards", PG),
    ("near_miss_postgresql", "0005_gadget_uuid", "pg_volatile_default", "forwards", PG),
    ("near_miss_postgresql", "0007_maker_serial", "pg_volatile_default", "forwards", PG),
    (
        "near_miss_postgresql",
        "0006_remove_gadget_notes_idx_concurrently",
        "pg_drop_index_not_concurrent",
        "forwards",
        PG,
    ),
    # The reversal re-adds a column without a default: it stops there (reverse_not_null_without_default).
    ("flagged", "0019_remove_gadget_serial", "window_not_null_column", "backwards", ALL),
    ("flagged", "0010_gadget_code_uniq", "window_unique", "backwards", ALL),
    # Scratch is created and deleted in the plan: the new code does not use it.
    ("near_miss", "0014_scratch", "window_drops_table", "backwards", ALL),
    ("near_miss", "0015_scratch_extra", "window_drops_column", "backwards", ALL),
    ("near_miss", "0004_rename_gadget_name_keep_column", "window_rename", "backwards", ALL),
    ("near_miss", "0005_rename_widget_keep_table", "window_rename", "backwards", ALL),
]


def test_every_rule_has_a_flagged_case_and_a_near_miss():
    # The rules graded by a table's size have their cases in test_migrations_safety_sizes (real rows).
    names = {rule_id.removeprefix("cicd.safety.") for rule_id in RULES}
    assert {case[2] for case in [*FLAGGED, *SIZED_FLAGGED]} == names
    assert {case[2] for case in [*NEAR_MISSES, *SIZED_NEAR_MISSES]} == names


@pytest.mark.parametrize(("package", "migration", "rule", "direction", "vendors"), FLAGGED)
def test_rule_flags_its_case(package, migration, rule, direction, vendors):
    report = analyse(package, direction)
    if VENDOR in vendors:
        assert (migration, rule) in found(report)
    else:
        assert (migration, rule) not in found(report), f"{rule} is scoped to {vendors}, not {VENDOR}"


def check_near_miss(package, migration, rule, direction, vendors):
    if VENDOR not in vendors:
        pytest.skip(f"{rule}'s near-miss is written for {', '.join(vendors)}")
    report = analyse(package, direction)
    assert report.not_rendered == {}
    assert (migration, rule) not in found(report)


@pytest.mark.parametrize(
    ("package", "migration", "rule", "direction", "vendors"),
    [case for case in NEAR_MISSES if case[0] != "near_miss_postgresql"],
)
def test_rule_passes_its_near_miss(package, migration, rule, direction, vendors):
    check_near_miss(package, migration, rule, direction, vendors)


@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize(
    ("package", "migration", "rule", "direction", "vendors"),
    [case for case in NEAR_MISSES if case[0] == "near_miss_postgresql"],
)
def test_postgresql_near_miss(package, migration, rule, direction, vendors):
    # Outside a transaction: AddIndexConcurrently refuses to run, even to be rendered, inside one.
    check_near_miss(package, migration, rule, direction, vendors)


def test_flagged_scenario_has_exactly_the_expected_findings():
    for direction in ("forwards", "backwards"):
        expected = {
            (migration, rule)
            for package, migration, rule, case_direction, vendors in FLAGGED
            if package == "flagged" and case_direction == direction and VENDOR in vendors
        }
        assert found(analyse("flagged", direction)) == expected


def test_near_miss_scenario_has_nothing_to_say_forwards():
    report = analyse("near_miss")
    assert [(f.migration_name, f.rule_id) for f in report.findings] == []


# --- what a finding says ---------------------------------------------------------------------


def test_remove_field_finding_names_table_column_and_numbered_steps():
    [finding] = [f for f in analyse("flagged").findings if f.migration_name == "0002_remove_gadget_legacy"]
    assert finding.rule_id == "cicd.safety.remove_field"
    assert finding.severity == Severity.ERROR
    assert finding.when == "deploy"
    assert finding.blocking
    assert finding.operation == "Remove field legacy from gadget"
    assert (finding.table, finding.column) == ("catalog_gadget", "legacy")
    assert finding.message == (
        'catalog.0002_remove_gadget_legacy: RemoveField drops column "catalog_gadget"."legacy" (Gadget.legacy) '
        "while the running release still reads and writes it; its data is lost."
    )
    steps = finding.hint.splitlines()
    assert [line[:3] for line in steps] == ["1. ", "2. ", "3. "]
    assert 'migrations.RemoveField("gadget", "legacy")' in steps[0]
    q = "`" if VENDOR == "mysql" else '"'
    assert 'ALTER TABLE "catalog_gadget" DROP COLUMN "legacy"' in steps[2]
    # The statement is the schema editor's own: Django 5.2 on PostgreSQL appends CASCADE, 6.x does not.
    cascade = " CASCADE" if "CASCADE" in connection.SchemaEditorClass.sql_delete_column else ""
    assert finding.sql == (f"ALTER TABLE {q}catalog_gadget{q} DROP COLUMN {q}legacy{q}{cascade};",)
    assert finding.sql_rendered


def test_location_is_the_line_of_the_operation():
    report = analyse("accepted")
    path = SCENARIOS / "accepted" / "0003_delete_legacy_rename_widget.py"
    lines = path.read_text().splitlines()
    by_rule = {f.rule_id: f for f in report.findings if f.migration_name == "0003_delete_legacy_rename_widget"}
    delete, rename = by_rule["cicd.safety.delete_model"], by_rule["cicd.safety.rename_model"]
    assert Path(delete.location.path).resolve() == path
    assert lines[delete.location.line - 1].strip() == "accept("
    assert lines[rename.location.line - 1].strip() == "migrations.RenameModel("
    assert (delete.operation_index, rename.operation_index) == (0, 1)


def test_invalid_acceptance_points_at_cicd_accept():
    [finding] = [
        f
        for f in analyse("accepted").findings
        if f.migration_name == "0004_gadget_sku" and f.rule_id == "cicd.safety.acceptance_invalid"
    ]
    lines = (SCENARIOS / "accepted" / "0004_gadget_sku.py").read_text().splitlines()
    assert lines[finding.location.line - 1].strip().startswith("cicd_accept = ")


# --- accepting a risk ------------------------------------------------------------------------


def test_acceptance_on_the_class_and_on_one_operation():
    report = analyse("accepted")
    by_key = {(f.migration_name, f.rule_id.removeprefix("cicd.safety.")): f for f in report.findings}
    removed = by_key[("0002_remove_gadget_legacy", "remove_field")]
    assert removed.accepted_reason == "Gadget.legacy is unused since release 41 (state removed there)"
    assert not removed.blocking
    deleted = by_key[("0003_delete_legacy_rename_widget", "delete_model")]
    assert deleted.accepted_reason == "nothing reads Legacy since release 40"
    renamed = by_key[("0003_delete_legacy_rename_widget", "rename_model")]
    assert renamed.accepted_reason is None and renamed.blocking
    [waived] = [f for f in report.as_findings() if f.code == "cicd.safety.remove_field" and f.waiver]
    assert waived.waiver.reason == removed.accepted_reason
    assert removed not in report.blocking and renamed in report.blocking


def test_acceptance_without_a_reason_is_an_error_and_accepts_nothing():
    by_key = {(f.migration_name, f.rule_id): f for f in analyse("accepted").findings}
    invalid = by_key[("0004_gadget_sku", "cicd.safety.acceptance_invalid")]
    assert invalid.message == (
        "catalog.0004_gadget_sku (Migration.cicd_accept) accepts 'cicd.safety.add_field_not_null' without a "
        "reason; write why the risk is acceptable here."
    )
    assert invalid.blocking
    assert by_key[("0004_gadget_sku", "cicd.safety.add_field_not_null")].blocking


def test_acceptance_of_an_unknown_rule_suggests_the_close_one():
    by_key = {(f.migration_name, f.rule_id): f for f in analyse("accepted").findings}
    invalid = by_key[("0005_remove_gadget_serial", "cicd.safety.acceptance_invalid")]
    assert invalid.message == (
        "catalog.0005_remove_gadget_serial (Migration.cicd_accept) accepts the unknown rule "
        "'cicd.safety.remove_feild'. Did you mean 'cicd.safety.remove_field'?"
    )
    assert by_key[("0005_remove_gadget_serial", "cicd.safety.remove_field")].blocking


def test_acceptance_per_app_in_settings(cicd_settings):
    cicd_settings(MIGRATION_SAFETY={"catalog": {"accept": {"cicd.safety.remove_field": "vendored app, see #77"}}})
    removed = [f for f in analyse("flagged").findings if f.rule_id == "cicd.safety.remove_field"]
    assert len(removed) == 2
    assert {f.accepted_reason for f in removed} == {"vendored app, see #77"}


# --- SQL ---------------------------------------------------------------------------------------


def test_sql_is_collected_and_never_executed():
    with CaptureQueriesContext(connections["default"]) as queries:
        analyse("flagged")
    ddl = re.compile(r"^\s*(ALTER|CREATE|DROP|UPDATE|INSERT|DELETE|RENAME)\b", re.I)
    assert [q["sql"] for q in queries.captured_queries if ddl.match(q["sql"])] == []
    assert "catalog_gadget" not in connections["default"].introspection.table_names()


def test_sql_that_cannot_be_rendered_is_noted_and_the_operations_still_analysed():
    report = analyse("unrenderable")
    label = "catalog.0002_gadget_unique_together"
    assert list(report.not_rendered) == [label]
    by_rule = {f.rule_id: f for f in report.findings}
    note = by_rule["cicd.safety.sql_not_rendered"]
    assert note.severity == Severity.INFO and not note.blocking
    assert note.message.startswith(
        f"{label}: SQL not rendered for operation 0 (Alter unique_together for gadget (1 constraint(s))): "
    )
    assert note.message.endswith("The operations were analysed without their SQL.")
    assert "sqlmigrate catalog 0002_gadget_unique_together" in note.hint
    unique = by_rule["cicd.safety.add_unique"]
    assert not unique.sql_rendered and unique.sql == ()
    assert by_rule["cicd.safety.remove_field"].sql_rendered


# --- the "new table" exemption and whole plans ------------------------------------------------


def test_tables_created_in_the_same_plan_are_new():
    loader = planning.load_graph()
    plan = planning.forward_plan(loader, set())
    report = analyse_plan(plan, loader=loader)
    assert [(f.migration_label, f.rule_id) for f in report.findings] == [
        ("accounts.0004_normalise_emails", "cicd.safety.irreversible")
    ]
    linted = analyse_plan(plan, loader=loader, exempt_new_tables=False)
    assert ("accounts.0003_rename_name_customer_full_name", "cicd.safety.rename_field") in {
        (f.migration_label, f.rule_id) for f in linted.findings
    }


# --- backwards plans (rollback) ---------------------------------------------------------------


def test_backwards_plan_reports_in_reversal_order_with_tables_and_columns():
    report = analyse("flagged", "backwards")
    assert report.direction == "backwards"
    assert report.findings[0].migration_name == "0022_remove_gadget_code_uniq"
    assert [f.migration_name for f in report.irreversible] == ["0017_update_gadgets_sql", "0015_fill_gadgets"]
    for finding in report.irreversible:
        assert finding.severity == Severity.ERROR and finding.when == "rollback" and finding.blocking
        assert "cannot be undone" in finding.message
    assert [(f.table, f.column) for f in report.data_loss] == [
        ("catalog_part", None),
        ("catalog_gadget", "score"),
        ("catalog_gadget", "maker_id"),
        ("catalog_gadget", "sku"),
    ]
    [noop] = report.noop_reverses
    assert noop.message == (
        "catalog.0016_touch_gadgets: RunPython fill_gadgets reverses as a no-op: a rollback takes the schema "
        "back, not the data."
    )
    assert "--restore-backup" in report.irreversible[0].hint


def test_direction_must_match_the_steps():
    plan, loader = scenario_plan("flagged")
    with pytest.raises(ValueError, match=r"^analyse_plan\(direction='backwards'\) was given steps of the other"):
        analyse_plan(plan, loader=loader, direction="backwards")
    with pytest.raises(ValueError, match="direction must be 'forwards' or 'backwards', not 'sideways'"):
        analyse_plan(plan, loader=loader, direction="sideways")


# --- predeploy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "junit", "gitlab", "text"])
def test_predeploy_reports_safety_findings_in_every_format(fmt):
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.accepted"}):
        stdout, _stderr, code = run_command(
            "predeploy",
            "--only",
            "cicd.migrations.safety",
            "--only",
            "cicd.migrations.reversible",
            "--database",
            "default",
            "--format",
            fmt,
        )
    assert code == 1
    path = "tests/scenarios/safety/accepted/0003_delete_legacy_rename_widget.py"
    if fmt == "json":
        document = json.loads(stdout)
        [safety] = [c for c in document["checks"] if c["id"] == "cicd.migrations.safety"]
        by_code = {}
        for finding in safety["findings"]:
            by_code.setdefault(finding["code"], []).append(finding)
        [rename] = by_code["cicd.safety.rename_model"]
        assert rename["location"] == {"path": path, "line": 15}
        assert rename["blocking"] and rename["extra"]["when"] == "deploy"
        assert rename["message"].startswith("default: catalog.0003_delete_legacy_rename_widget: RenameModel")
        [deleted] = by_code["cicd.safety.delete_model"]
        assert deleted["waiver"]["reason"] == "nothing reads Legacy since release 40"
        assert not deleted["blocking"]
    elif fmt == "sarif":
        results = json.loads(stdout)["runs"][0]["results"]
        [rename] = [r for r in results if r["ruleId"] == "cicd.safety.rename_model"]
        location = rename["locations"][0]["physicalLocation"]
        assert location == {"artifactLocation": {"uri": path}, "region": {"startLine": 15}}
        [deleted] = [r for r in results if r["ruleId"] == "cicd.safety.delete_model"]
        assert deleted["suppressions"][0]["justification"] == "nothing reads Legacy since release 40"
    elif fmt == "github":
        assert f"::error file={path},line=15,title=cicd.safety.rename_model (cicd.migrations.safety)::" in stdout
    elif fmt == "gitlab":
        issues = json.loads(stdout)
        assert any(i["check_name"] == "cicd.safety.rename_model" for i in issues)
    else:
        assert "cicd.safety.rename_model" in stdout


def test_predeploy_reversible_check_names_the_operations_that_prevent_a_rollback():
    from django_cicd.checks import run_checks

    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.flagged"}):
        report = run_checks(only=["cicd.migrations.reversible"], databases=["default"])
    [result] = report.results
    assert [(f.code, f.extra["migration"], f.severity.label, f.blocking) for f in result.findings] == [
        ("cicd.safety.reverse_not_null_without_default", "catalog.0019_remove_gadget_serial", "error", True),
        ("cicd.safety.irreversible", "catalog.0017_update_gadgets_sql", "error", True),
        # 0016 only changes data: its no-op reverse is reported and does not fail predeploy.
        ("cicd.safety.noop_reverse", "catalog.0016_touch_gadgets", "info", False),
        ("cicd.safety.irreversible", "catalog.0015_fill_gadgets", "error", True),
    ]


def test_predeploy_passes_on_a_migrated_database():
    _stdout, _stderr, code = run_command(
        "predeploy", "--only", "cicd.migrations.safety", "--only", "cicd.migrations.reversible"
    )
    assert code == 0
