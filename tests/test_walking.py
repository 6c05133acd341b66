"""The project state walked by predeploy and the safety analysis (django_cicd.walking) is Django's own:
the same models, fields and relations as ``MigrationLoader.project_state()``, built with fewer scans."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connections, migrations, models
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState, ProjectState
from django.test import override_settings

from django_cicd import planning, walking
from django_cicd.checks import run_checks
from django_cicd.checks.context import CheckContext
from django_cicd.report import Severity, Status


def two_models(state_class: type[ProjectState]) -> ProjectState:
    """shop.Product with a unique code, shop.Line pointing to it by that code, and an unrelated model."""
    return state_class(
        models={
            ("shop", "product"): ModelState(
                "shop",
                "Product",
                [("id", models.AutoField(primary_key=True)), ("code", models.CharField(max_length=10, unique=True))],
            ),
            ("shop", "line"): ModelState(
                "shop",
                "Line",
                [
                    ("id", models.AutoField(primary_key=True)),
                    ("product", models.ForeignKey("shop.Product", models.CASCADE, to_field="code")),
                ],
            ),
            ("blog", "post"): ModelState("blog", "Post", [("id", models.AutoField(primary_key=True))]),
        }
    )


OPERATIONS = [
    migrations.RenameField("Product", "code", "sku"),
    migrations.AlterField("Product", "sku", models.CharField(max_length=20, unique=True)),
    migrations.AlterField("Product", "sku", models.CharField(max_length=30, unique=True, default="x"), False),
    migrations.AddField("Line", "note", models.TextField(default="")),
    migrations.RenameField("Line", "note", "comment"),
]


def test_walk_state_gives_the_state_django_gives():
    django_state = two_models(ProjectState)
    walked = two_models(walking.WalkState)
    for operation in OPERATIONS:
        operation.state_forwards("shop", django_state)
        operation.state_forwards("shop", walked)
    assert walked == django_state
    # The relation that named the renamed field follows it, as in Django's state.
    line_fk = walked.models["shop", "line"].fields["product"]
    assert line_fk.to_fields == ("sku",)
    assert line_fk.remote_field.field_name == "sku"
    # preserve_default=False: the default was for the migration only.
    assert walked.models["shop", "product"].fields["sku"].default is models.NOT_PROVIDED


@pytest.mark.parametrize("render_first", ["apps", "relations"])
def test_walk_state_once_rendered_or_resolved_is_djangos(render_first):
    django_state = two_models(ProjectState)
    walked = two_models(walking.WalkState)
    for state in (django_state, walked):
        getattr(state, render_first)  # renders the models / resolves the relations
    for operation in OPERATIONS:
        operation.state_forwards("shop", django_state)
        operation.state_forwards("shop", walked)
    assert walked == django_state
    assert walked.models["shop", "line"].fields["product"].to_fields == ("sku",)
    if render_first == "apps":
        assert walked.apps.get_model("shop", "Line")._meta.get_field("product").to_fields == ["sku"]


def test_project_state_of_the_test_project_is_the_loaders():
    loader = planning.load_graph()
    assert walking.project_state(loader) == loader.project_state()
    for nodes in ([("catalog", "0002_product_slug")], sorted(loader.graph.leaf_nodes())[:2]):
        assert walking.project_state(loader, nodes) == loader.project_state(nodes)
        assert walking.project_state(loader, nodes, at_end=False) == loader.project_state(nodes, at_end=False)


@pytest.mark.parametrize("package", ["flagged", "near_miss", "accepted"])
def test_project_state_of_the_safety_scenarios_is_the_loaders(package):
    with override_settings(MIGRATION_MODULES={"catalog": f"tests.scenarios.safety.{package}"}):
        loader = planning.load_graph()
        assert walking.project_state(loader) == loader.project_state()


# --- predeploy: one walk for the safety analysis and cicd.migrations.missing ---------------------

WALK_CHECKS = ["cicd.migrations.missing", "cicd.migrations.safety", "cicd.migrations.reversible"]


@contextmanager
def unapplied(*keys: tuple[str, str]):
    """``keys`` and every migration depending on them recorded as not applied on "default"."""
    loader = planning.load_graph()
    todo, drop = list(keys), set()
    while todo:
        key = todo.pop()
        if key not in drop:
            drop.add(key)
            todo.extend(child.key for child in loader.graph.node_map[key].children)
    recorder = MigrationRecorder(connections["default"])
    applied = set(recorder.applied_migrations())
    drop &= applied
    for key in drop:
        recorder.record_unapplied(*key)
    try:
        yield sorted(drop)
    finally:
        for key in drop:
            recorder.record_applied(*key)


def findings(report, check_id):
    [found] = [r for r in report.results if r.id == check_id]
    return found.status, [(f.code, f.severity, f.message) for f in found.findings]


@pytest.mark.django_db(databases="__all__")
def test_the_leaf_state_comes_from_the_walk_of_the_pending_plan():
    with unapplied(("catalog", "0002_product_slug"), ("accounts", "0003_rename_name_customer_full_name")) as dropped:
        assert len(dropped) >= 4
        ctx = CheckContext(databases=["default"], check_ids=frozenset(WALK_CHECKS))
        state = ctx.project_state
        # The safety analysis ran to give it; the state is the loader's all the same.
        assert "_safety_reports" in ctx.__dict__
        assert state == planning.load_graph().project_state()
        # Without the safety checks, the state is walked from the first migration.
        alone = CheckContext(databases=["default"], check_ids=frozenset(WALK_CHECKS[:1]))
        assert alone.project_state == state
        assert "_safety_reports" not in alone.__dict__


@pytest.mark.django_db(databases="__all__")
def test_the_checks_sharing_the_walk_find_what_each_finds_alone():
    with unapplied(("catalog", "0002_product_slug"), ("accounts", "0003_rename_name_customer_full_name")):
        together = run_checks(only=WALK_CHECKS, databases=["default"])
        apart = {check_id: run_checks(only=[check_id], databases=["default"]) for check_id in WALK_CHECKS}
    for check_id in WALK_CHECKS:
        assert findings(together, check_id) == findings(apart[check_id], check_id)
    assert findings(together, "cicd.migrations.safety")[1]  # the plan has findings to compare


@pytest.mark.django_db(databases="__all__")
def test_a_model_change_without_migration_is_found_through_the_shared_walk():
    modules = override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.predeploy.catalog_missing"})
    with modules, unapplied(("catalog", "0002_product_slug")):
        report = run_checks(only=WALK_CHECKS, databases=["default"])
    status, found = findings(report, "cicd.migrations.missing")
    assert status == Status.FAILED
    assert found == [
        (
            "cicd.migrations.missing",
            Severity.ERROR,
            "catalog: 1 model change(s) have no migration: Remove field legacy_code from product",
        )
    ]


@pytest.mark.django_db(databases="__all__")
def test_a_failing_analysis_leaves_the_missing_check_alone(monkeypatch):
    # A bug in the analysis, which no real plan of the test project triggers: replaced by one that raises.
    def broken(*args, **kwargs):
        raise RuntimeError("analysis broke")

    monkeypatch.setattr("django_cicd.checks.builtin.migrations_safety.analyse_both", broken)
    with unapplied(("catalog", "0002_product_slug")):
        report = run_checks(only=WALK_CHECKS, databases=["default"])
    assert findings(report, "cicd.migrations.missing") == (Status.PASSED, [])
    status, found = findings(report, "cicd.migrations.safety")
    assert status == Status.ERROR
    assert "analysis broke" in found[0][2]
