"""The project state walked by predeploy and the safety analysis (django_cicd.walking) is Django's own:
the same models, fields and relations as ``MigrationLoader.project_state()``, built with fewer scans."""

from __future__ import annotations

import pytest
from django.db import migrations, models
from django.db.migrations.state import ModelState, ProjectState
from django.test import override_settings

from django_cicd import planning, walking


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
