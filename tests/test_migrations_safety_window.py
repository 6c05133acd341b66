"""The rollback window (issue 13, part 2): what reversing a plan breaks for the new code, which keeps
serving while the schema goes back, and the order to roll back in.

The migrations of ``catalog`` are swapped for ``tests/scenarios/safety/flagged``; a selection of
them is analysed backwards as rollback_release would reverse them. Nothing is migrated.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_cicd.migrations_safety import SafetyReport, analyse_selection, named_migrations
from django_cicd.migrations_safety.window import IMAGE_FIRST, SCHEMA_FIRST, STOP_WRITES
from django_cicd.report import Severity

pytestmark = pytest.mark.django_db(databases="__all__")


def reversal(names: str) -> SafetyReport:
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.flagged"}):
        return analyse_selection(named_migrations(names), direction="backwards")


def window_rules(report: SafetyReport) -> list[tuple[str, str]]:
    return [(f.migration_name, f.rule_id.removeprefix("cicd.safety.")) for f in report.rollback_window.findings]


def test_a_re_added_not_null_column_breaks_the_new_codes_inserts_and_loses_the_values():
    window = reversal("catalog.0002").rollback_window
    [finding] = window.findings
    assert finding.rule_id == "cicd.safety.window_not_null_column"
    assert (finding.table, finding.column, finding.when, finding.severity) == (
        "catalog_gadget",
        "legacy",
        "rollback",
        Severity.WARNING,
    )
    assert finding.message == (
        'catalog.0002_remove_gadget_legacy: reversing RemoveField adds "catalog_gadget"."legacy" back NOT NULL '
        "without a database default: until the previous image serves, the new release cannot add a Gadget (its "
        "INSERTs leave the column out), and the existing rows get the default '' instead of the values they had."
    )
    steps = finding.hint.splitlines()
    assert [step[:3] for step in steps] == ["1. ", "2. ", "3. ", "4. "]
    assert "Do not switch the image first" in steps[1]
    assert "--restore-backup" in steps[2]
    # The previous release selects the column: the schema must go back before it starts.
    assert window.order == SCHEMA_FIRST
    assert window.summary.startswith("the previous release needs the reversed schema before it starts")


def test_a_column_without_any_default_makes_the_reversal_fail_instead():
    # 0019 removed a NOT NULL integer without a default: reversing stops there (another rule), so
    # there is no window to describe.
    report = reversal("catalog.0019")
    assert [f.rule_id for f in report.findings] == ["cicd.safety.reverse_not_null_without_default"]
    assert not report.rollback_window


def test_a_re_added_unique_constraint_asks_for_the_image_first():
    window = reversal("catalog.0022").rollback_window
    [finding] = window.findings
    assert finding.rule_id == "cicd.safety.window_unique"
    assert finding.message == (
        "catalog.0022_remove_gadget_code_uniq: reversing Remove constraint catalog_gadget_code_uniq from model "
        'gadget adds unique ("code") back on "catalog_gadget": it fails on the duplicates the new release wrote '
        "since the deploy, and its duplicate writes fail afterwards."
    )
    assert 'SELECT "code", COUNT(*) FROM "catalog_gadget" GROUP BY "code" HAVING COUNT(*) > 1' in finding.hint
    assert window.order == IMAGE_FIRST


def test_a_dropped_table_and_column_the_new_code_uses_ask_for_the_image_first():
    window = reversal("catalog.0020,catalog.0014").rollback_window
    assert window_rules(reversal("catalog.0020,catalog.0014")) == [
        ("0020_part", "window_drops_table"),
        ("0014_gadget_score", "window_drops_column"),
    ]
    assert window.order == IMAGE_FIRST
    steps = window.steps.splitlines()
    assert steps[0].startswith("1. Switch the service to the previous release's image")
    assert steps[1].startswith("2. Reverse the migrations with this release's code")


def test_a_rename_or_both_kinds_at_once_leave_no_safe_order():
    assert reversal("catalog.0004").rollback_window.order == STOP_WRITES
    mixed = reversal("catalog.0002,catalog.0020").rollback_window
    assert [f.rule_id for f in mixed.findings] == [
        "cicd.safety.window_drops_table",
        "cicd.safety.window_not_null_column",
    ]
    assert mixed.order == STOP_WRITES
    assert mixed.steps.splitlines()[0].startswith("1. Stop the traffic")


def test_what_the_new_code_no_longer_uses_is_not_a_window():
    # Scratch is created, given a column, and deleted in the same release: reversing drops nothing
    # the new code uses (the data-loss findings stay).
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.near_miss"}):
        report = analyse_selection(named_migrations("catalog.0014,catalog.0015,catalog.0016"), direction="backwards")
    assert not report.rollback_window
    assert {f.rule_id for f in report.findings} == {
        "cicd.safety.reverse_drops_table",
        "cicd.safety.reverse_drops_column",
    }


def test_an_accepted_window_finding_does_not_change_the_order(cicd_settings):
    cicd_settings(MIGRATION_SAFETY={"catalog": {"accept": {"cicd.safety.window_rename": "maintenance window"}}})
    report = reversal("catalog.0004,catalog.0020")
    assert [f.status for f in report.findings if f.rule_id == "cicd.safety.window_rename"] == ["accepted"]
    assert report.rollback_window.order == IMAGE_FIRST


def test_a_forwards_report_has_no_window():
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.safety.flagged"}):
        report = analyse_selection(named_migrations("catalog.0002"))
    window = report.rollback_window
    assert not window and window.order == SCHEMA_FIRST
    assert window.as_dict()["findings"] == []
