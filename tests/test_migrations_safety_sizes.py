"""Lock and rewrite findings graded by the size of the table, read from the database (issue 13, part 3).

The tables of ``tests/scenarios/safety/sized`` are created for real (its 0001_initial) and filled
with rows; the rest of the package is analysed, never run. SMALL_TABLE_ROWS is lowered to 100 so
that a "large" table takes 300 rows to build.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import override_settings

from django_cicd import planning
from django_cicd.checks import run_checks
from django_cicd.migrations_safety import SafetyReport, analyse_plan
from django_cicd.report import Severity

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

VENDOR = connection.vendor
SIZED = "tests.scenarios.safety.sized"
THRESHOLD = 100
ABOUT = "" if VENDOR == "sqlite" else "about "
ALL = ("sqlite", "postgresql", "mysql")

#: Sized rules whose flagged case lives here (test_migrations_safety's catalogue test reads these).
SIZED_FLAGGED = [("sized", "0003_fill_gadgets", "data_migration_unbatched", "forwards", ALL)]
SIZED_NEAR_MISSES = [("sized", "0007_batched_fill", "data_migration_unbatched", "forwards", ALL)]


@pytest.fixture
def tables(cicd_settings) -> Iterator[dict[str, type]]:
    """catalog_gadget and catalog_maker as the sized scenario's 0001 creates them, dropped afterwards."""
    cicd_settings(MIGRATION_SAFETY={"SMALL_TABLE_ROWS": THRESHOLD})
    with override_settings(MIGRATION_MODULES={"catalog": SIZED}):
        loader = planning.load_graph()
        state = loader.project_state(nodes=[("catalog", "0001_initial")], at_end=True)
        models = {name: state.apps.get_model("catalog", name) for name in ("Gadget", "Maker")}
        with connection.schema_editor() as editor:
            for model in models.values():
                editor.create_model(model)
        try:
            yield models
        finally:
            with connection.schema_editor() as editor:
                for model in models.values():
                    editor.delete_model(model)


def fill(model: type, rows: int, *, analyse: bool = True) -> None:
    model.objects.bulk_create([model(name=f"n{i}", notes=f"x{i}") for i in range(rows)])  # type: ignore[attr-defined]
    if analyse and VENDOR != "sqlite":
        # The statistics the estimate comes from; autovacuum / InnoDB would update them in time.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {'TABLE ' if VENDOR == 'mysql' else ''}{model._meta.db_table}")  # type: ignore[attr-defined]
            if VENDOR == "mysql":
                cursor.fetchall()


def analyse(**kwargs) -> SafetyReport:
    with override_settings(MIGRATION_MODULES={"catalog": SIZED}):
        loader = planning.load_graph()
        applied = {key for key in loader.graph.nodes if key[0] != "catalog"} | {("catalog", "0001_initial")}
        return analyse_plan(planning.forward_plan(loader, applied), loader=loader, **kwargs)


def by_rule(report: SafetyReport) -> dict[tuple[str, str], object]:
    return {(f.migration_name, f.rule_id.removeprefix("cicd.safety.")): f for f in report.findings}


def test_a_lock_on_a_small_table_is_a_warning_that_names_its_size(tables):
    fill(tables["Gadget"], 3)
    found = by_rule(analyse())
    if VENDOR == "postgresql":
        index = found[("0002_gadget_notes_idx", "pg_index_not_concurrent")]
        assert index.severity == Severity.WARNING and not index.blocking
        assert index.message.endswith(
            f'("catalog_gadget" holds about 3 rows, {index.extra["table_bytes"] // 1024} kB, under SMALL_TABLE_ROWS '
            f"(100): a warning.)"
        )
        assert (index.extra["table_size"], index.extra["table_rows"]) == ("small", 3)
        rewrite = found[("0005_alter_gadget_weight", "pg_column_rewrite")]
        assert rewrite.severity == Severity.WARNING
    if VENDOR == "mysql":
        copy = found[("0005_alter_gadget_weight", "mysql_table_copy")]
        assert copy.severity == Severity.WARNING
        assert "holds about 3 rows" in copy.message
    # A data migration over a small table is what data migrations are for: nothing to say.
    assert not [key for key in found if key[1] == "data_migration_unbatched"]


def test_a_lock_on_a_large_table_is_an_error_that_names_its_size(tables):
    fill(tables["Gadget"], 300)
    report = analyse()
    found = by_rule(report)
    assert report.table_sizes["catalog_gadget"].rows is not None
    if VENDOR == "postgresql":
        index = found[("0002_gadget_notes_idx", "pg_index_not_concurrent")]
        assert index.severity == Severity.ERROR and index.blocking
        assert f'"catalog_gadget" holds about {index.extra["table_rows"]:,} rows, ' in index.message
        assert index.extra["table_size"] == "large"
    if VENDOR == "mysql":
        assert found[("0005_alter_gadget_weight", "mysql_table_copy")].severity == Severity.ERROR
    python = found[("0003_fill_gadgets", "data_migration_unbatched")]
    assert python.severity == Severity.ERROR and python.table == "catalog_gadget"
    assert python.message.startswith(
        'catalog.0003_fill_gadgets: RunPython fill_weights loads Gadget ("catalog_gadget") and runs in one '
        "transaction: every row it changes stays locked until the migration ends. "
        f'("catalog_gadget" holds {ABOUT}'
    )
    assert "batches" in python.hint and "atomic = False" in python.hint
    sql = found[("0004_update_gadgets_sql", "data_migration_unbatched")]
    assert sql.message.startswith('catalog.0004_update_gadgets_sql: RunSQL runs UPDATE over "catalog_gadget" as one')
    # Batched, outside one transaction: not flagged.
    assert ("0007_batched_fill", "data_migration_unbatched") not in found


def test_the_threshold_is_a_setting(tables, cicd_settings):
    fill(tables["Gadget"], 300)
    cicd_settings(MIGRATION_SAFETY={"SMALL_TABLE_ROWS": 1000})
    found = by_rule(analyse())
    assert not [key for key in found if key[1] == "data_migration_unbatched"]
    if VENDOR == "postgresql":
        assert found[("0002_gadget_notes_idx", "pg_index_not_concurrent")].severity == Severity.WARNING


@pytest.mark.skipif(VENDOR != "postgresql", reason="reltuples is PostgreSQL's statistic")
def test_a_table_postgresql_has_no_statistics_for_is_judged_by_its_size_on_disk(tables, cicd_settings):
    # reltuples is -1 until the first ANALYZE; 24 kB on disk hold at most 910 rows, under the default.
    cicd_settings(MIGRATION_SAFETY={})
    fill(tables["Gadget"], 3, analyse=False)
    index = by_rule(analyse())[("0002_gadget_notes_idx", "pg_index_not_concurrent")]
    assert index.severity == Severity.WARNING
    assert '("catalog_gadget" holds at most ' in index.message and " rows by its size on disk, " in index.message


def test_without_reading_the_database_the_size_is_unknown_and_the_finding_an_error(tables):
    fill(tables["Gadget"], 300)
    report = analyse(table_sizes=False)
    found = by_rule(report)
    assert report.table_sizes == {} and report.sizes_note == "analysed without reading the database"
    assert not [key for key in found if key[1] == "data_migration_unbatched"]
    if VENDOR == "postgresql":
        index = found[("0002_gadget_notes_idx", "pg_index_not_concurrent")]
        assert index.severity == Severity.ERROR
        assert index.message.endswith('(size of "catalog_gadget" unknown: analysed without reading the database.)')


def test_a_no_op_reverse_on_a_data_only_migration_does_not_fail_predeploy(tables):
    fill(tables["Gadget"], 3)
    with override_settings(MIGRATION_MODULES={"catalog": SIZED}):
        report = run_checks(only=["cicd.migrations.reversible"], databases=["default"])
    [result] = report.results
    codes = {(f.code, f.extra["migration"]): f for f in result.findings}
    cleanup = codes[("cicd.safety.noop_reverse", "catalog.0006_clean_makers")]
    assert cleanup.severity == Severity.INFO and not cleanup.blocking
    assert cleanup.message.endswith("(the migration only changes data: reported, not failing predeploy)")
    # 0007 changes data too, and its no-op reverse is as harmless.
    assert codes[("cicd.safety.noop_reverse", "catalog.0007_batched_fill")].severity == Severity.INFO
    # 0008 changes the schema as well: its no-op reverse still fails predeploy.
    mixed = codes[("cicd.safety.noop_reverse", "catalog.0008_gadget_colour")]
    assert mixed.severity == Severity.WARNING and mixed.blocking
    assert [f.extra["migration"] for f in result.findings if f.blocking] == ["catalog.0008_gadget_colour"]
