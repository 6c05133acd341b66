""" "New in this plan" follows the database table, not the model (issue 13, part 1).

A table created earlier in the plan stays new when another app takes it over (a state-only
CreateModel keeping db_table, SeparateDatabaseAndState), when it is renamed (RenameModel,
AlterModelTable, a RunSQL rename) and when a model reuses its db_table; a table that existed
before the plan stays old whatever model Django's state gives it. A first deploy to an empty
database never blocks on lock or compatibility rules.

The scenarios swap the migrations of ``catalog`` (and ``orders``) for packages under
``tests/scenarios/safety/``; nothing is migrated.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import override_settings

from django_cicd import planning
from django_cicd.migrations_safety import SafetyReport, analyse_plan

pytestmark = pytest.mark.django_db(databases="__all__")

VENDOR = connection.vendor
TAKEOVER = {"catalog": "tests.scenarios.safety.takeover", "orders": "tests.scenarios.safety.takeover_orders"}
Key = tuple[str, str]


def analyse(modules: dict[str, str], applied: Callable[[Key], bool], **kwargs) -> SafetyReport:
    with override_settings(MIGRATION_MODULES=modules):
        loader = planning.load_graph()
        plan = planning.forward_plan(loader, {key for key in loader.graph.nodes if applied(key)})
        return analyse_plan(plan, loader=loader, **kwargs)


def found(report: SafetyReport, apps: tuple[str, ...] = ("catalog", "orders")) -> list[tuple[str, str]]:
    return sorted(
        (f.migration_label, f.rule_id.removeprefix("cicd.safety.")) for f in report.findings if f.app_label in apps
    )


# What the analysis said before it followed tables: five false errors on PostgreSQL (four elsewhere).
TAKEOVER_FALSE_ERRORS = [
    ("orders.0003_rename_tables", "alter_model_table"),
    ("orders.0003_rename_tables", "alter_model_table"),
    ("orders.0004_gadget_table_v2", "alter_model_table"),
    ("orders.0005_remove_gadget_legacy", "remove_field"),
    *([("orders.0006_gadget_notes_idx", "pg_index_not_concurrent")] if VENDOR == "postgresql" else []),
]


def test_first_deploy_to_an_empty_database_has_no_lock_or_compatibility_findings():
    # The case of the issue: tables created by catalog, taken over by orders through a state-only
    # CreateModel keeping db_table, then renamed (twice), a column dropped and an index built.
    report = analyse(TAKEOVER, applied=lambda key: False)
    assert found(report) == []
    assert report.first_deploy
    assert [f for f in report.findings if f.severity >= 30 and f.when == "deploy"] == []


def test_tables_taken_over_in_the_same_plan_are_new():
    # Not a first deploy (the other apps are migrated): the tables are new because catalog.0001
    # creates them in this plan, whichever app's model they belong to afterwards.
    report = analyse(TAKEOVER, applied=lambda key: key[0] not in TAKEOVER)
    assert found(report) == []
    assert not report.first_deploy


def test_a_taken_over_table_that_existed_before_the_plan_is_flagged():
    # The same operations on tables that existed before the plan (catalog.0001 applied): every
    # finding is true, and the chain of renames keeps pointing at the old table.
    report = analyse(TAKEOVER, applied=lambda key: key[0] not in TAKEOVER or key == ("catalog", "0001_initial"))
    assert found(report) == sorted(TAKEOVER_FALSE_ERRORS)
    tables = {(f.migration_label, f.table) for f in report.findings if f.rule_id.endswith("alter_model_table")}
    assert tables == {
        ("orders.0003_rename_tables", "catalog_gadget"),
        ("orders.0003_rename_tables", "catalog_maker"),
        ("orders.0004_gadget_table_v2", "orders_gadget"),
    }


def test_db_table_reuse_state_only_create_model_and_runsql_rename():
    report = analyse(
        {"catalog": "tests.scenarios.safety.reuse"},
        applied=lambda key: key[0] != "catalog" or key == ("catalog", "0001_initial"),
    )
    assert found(report) == [
        # catalog_legacy existed: dropping it is true. Created again, it is new (0003 is not flagged).
        ("catalog.0002_recreate_legacy", "delete_model"),
        # Piece is new to Django's state, but its table catalog_part existed before the plan.
        ("catalog.0005_piece_code", "add_field_not_null"),
        # Nothing on Shelf (0009): its table was created in the plan as catalog_widget_store and
        # renamed by RunSQL before Shelf took it over.
    ]


def test_lint_mode_still_flags_every_table():
    report = analyse(TAKEOVER, applied=lambda key: False, exempt_new_tables=False)
    assert not report.first_deploy
    assert set(TAKEOVER_FALSE_ERRORS) <= set(found(report))
