"""The pieces every command shares: planning, extras, hooks, the ledger model and its admin."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random

import pytest
from django.contrib.admin.sites import site
from django.core.checks import Warning as DjangoWarning
from django.core.checks.registry import registry as django_registry
from django.core.management import CommandError
from django.db import connections
from django.db.migrations.exceptions import NodeNotFoundError
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.recorder import MigrationRecorder
from django.test import RequestFactory, override_settings

from django_cicd import hooks, planning, walking
from django_cicd.checks import run_checks
from django_cicd.extras import MissingExtra, require
from django_cicd.management.base import CicdCommand
from django_cicd.models import Release
from testproject.catalog.models import Product

SQUASHED = {"catalog": "tests.scenarios.predeploy.catalog_squashed"}


def test_require_names_the_extra_to_install():
    with pytest.raises(MissingExtra) as excinfo:
        require("docker.no_such_module")
    assert str(excinfo.value) == (
        "docker.no_such_module is not installed; install it with: pip install 'django-cicd[docker]'"
    )
    assert require("json").dumps([]) == "[]"


def test_hooks_never_let_a_receiver_break_the_run(caplog):
    seen = []

    def good(sender, **kwargs):
        seen.append((sender, kwargs["release"]))

    def bad(sender, **kwargs):
        raise RuntimeError("sentry is down")

    hooks.run_started.connect(good)
    hooks.run_started.connect(bad)
    try:
        with caplog.at_level(logging.WARNING, logger="django_cicd"):
            hooks.send_safely(hooks.run_started, "safe_migrate", release="abc123", run_id="1")
    finally:
        hooks.run_started.disconnect(good)
        hooks.run_started.disconnect(bad)
    assert seen == [("safe_migrate", "abc123")]
    assert "a safe_migrate receiver" in caplog.text and "sentry is down" in caplog.text


# --- planning ---------------------------------------------------------------------------------


def test_forward_plan_and_state_from_what_is_applied():
    loader = planning.load_graph()
    applied = {("catalog", "0001_initial"), ("catalog", "0002_product_slug")}
    plan = [step.label for step in planning.forward_plan(loader, applied) if step.key[0] == "catalog"]
    assert plan == [
        "catalog.0003_populate_slugs",
        "catalog.0004_product_name_idx",
        "catalog.0005_remove_product_legacy_code",
    ]
    state = planning.state_from_applied(loader, applied)
    assert state["catalog"] == "0002_product_slug"
    assert state["orders"] is None
    assert planning.format_state({"catalog": "0002_product_slug", "orders": None}) == (
        "catalog=0002_product_slug, orders=zero"
    )


@override_settings(MIGRATION_MODULES=SQUASHED)
def test_squashed_migrations_count_as_applied_when_all_they_replace_is():
    loader = planning.load_graph()
    replaced = {("catalog", "0001_initial"), ("catalog", "0002_product_slug")}
    assert ("catalog", "0001_squashed_0002_product_slug") in planning.effective_applied(loader, replaced)
    assert planning.partially_applied_squashes(loader, {("catalog", "0001_initial")}) == [
        ("catalog", "0001_squashed_0002_product_slug")
    ]
    plan = [s.label for s in planning.forward_plan(loader, replaced) if s.key[0] == "catalog"]
    assert plan[0] == "catalog.0003_populate_slugs"
    # Replaced names recorded in a database are known to the code, not "from the future".
    assert planning.unknown_applied(loader, replaced) == []


def _random_graph(seed: int) -> MigrationGraph:
    """A graph of several apps, each a chain with branches and merges, and dependencies across apps."""
    rng = random.Random(seed)
    graph = MigrationGraph()
    keys: list[tuple[str, str]] = []
    for number in range(rng.randint(5, 60)):
        key = (f"app{rng.randint(0, 4)}", f"{number:04d}_{rng.choice('abcz')}")
        graph.add_node(key, None)
        earlier = [k for k in keys if k[0] == key[0]]
        # Parents in its own app (none for a root, two for a merge) and, at times, in other apps.
        own = rng.sample(earlier, min(len(earlier), rng.choice([0, 1, 1, 1, 2])))
        other = rng.sample(keys, min(len(keys), rng.choice([0, 0, 1, 3])))
        for parent in {*own, *other}:
            graph.add_dependency(None, key, parent)
        keys.append(key)
    return graph


def _djangos_order(graph: MigrationGraph, targets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """What Django's own forwards_plan gives, target by target, each migration at its first place."""
    order: dict[tuple[str, str], None] = {}
    for target in targets:
        order.update((key, None) for key in graph.forwards_plan(target) if key not in order)
    return list(order)


@pytest.mark.parametrize("seed", range(40))
def test_forwards_order_is_djangos_in_one_search(seed):
    graph = _random_graph(seed)
    rng = random.Random(seed)
    leaves = graph.leaf_nodes()
    some = rng.sample(sorted(graph.nodes), min(len(graph.nodes), 4))
    for targets in (leaves, some, some[::-1], [*some, *leaves]):
        assert planning.forwards_order(graph, targets) == _djangos_order(graph, targets)
        # The order MigrationLoader.project_state() applies migrations in, with and without the targets.
        assert walking.plan_order(graph, targets, at_end=True) == graph._generate_plan(targets, True)
        assert walking.plan_order(graph, targets, at_end=False) == graph._generate_plan(targets, False)


def test_forwards_order_names_a_migration_not_in_the_graph():
    with pytest.raises(NodeNotFoundError, match=r"shop.*0009_gone"):
        planning.forwards_order(_random_graph(1), [("shop", "0009_gone")])


def test_forwards_order_follows_a_long_chain_without_recursion():
    graph = MigrationGraph()
    keys = [("shop", f"{number:05d}") for number in range(5000)]
    for number, key in enumerate(keys):
        graph.add_node(key, None)
        if number:
            graph.add_dependency(None, key, keys[number - 1])
    assert planning.forwards_order(graph, [keys[-1]]) == keys


LATER = ["0002_product_slug", "0003_populate_slugs", "0004_product_name_idx", "0005_remove_product_legacy_code"]


@pytest.fixture
def only_first_catalog_migration_recorded():
    recorder = MigrationRecorder(connections["default"])
    for name in LATER:
        recorder.record_unapplied("catalog", name)
    yield
    for name in LATER:
        recorder.record_applied("catalog", name)


@pytest.mark.django_db
@override_settings(MIGRATION_MODULES=SQUASHED)
def test_partially_applied_squash_is_planned_through_the_replaced_migrations(only_first_catalog_migration_recorded):
    loader = planning.load_graph()
    applied = planning.applied_migrations("default")
    # The graph without a database takes the squash, which would re-create the table...
    assert planning.forward_plan(loader, applied)[0].label == "catalog.0001_squashed_0002_product_slug"
    # ...so the plan for this database is made from its own graph, as migrate does.
    plan = [s.label for s in planning.plan_for_database(loader, "default", applied) if s.key[0] == "catalog"]
    assert plan == [f"catalog.{name}" for name in LATER]


@pytest.mark.django_db
def test_applied_migrations_read_from_the_database():
    applied = planning.applied_migrations("default")
    assert ("catalog", "0005_remove_product_legacy_code") in applied
    assert planning.state_from_applied(planning.load_graph(), applied)["catalog"] == "0005_remove_product_legacy_code"


def test_relative_paths_inside_and_outside_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    assert planning.relative_path(str(tmp_path / "a" / "b.py")) == "a/b.py"
    assert planning.relative_path("/elsewhere/c.py") == "/elsewhere/c.py"


def test_paths_are_relative_to_the_ci_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert planning.relative_path(str(tmp_path / "app" / "models.py")) == "app/models.py"
    monkeypatch.delenv("GITHUB_WORKSPACE")
    monkeypatch.setenv("CI_PROJECT_DIR", str(tmp_path / "app"))
    assert planning.relative_path(str(tmp_path / "app" / "models.py")) == "models.py"


# --- Django system check locations -------------------------------------------------------------


def test_system_check_messages_point_at_the_model_source():
    def flag_product(app_configs=None, **kwargs):
        return [
            DjangoWarning("products need a sku", obj=Product, id="shop.W001"),
            DjangoWarning("field message", obj=Product._meta.get_field("name"), id="shop.W002"),
            DjangoWarning("setting message", obj="settings", id="shop.W003"),
        ]

    django_registry.register(flag_product)
    try:
        report = run_checks(only=["cicd.django.checks"], use_database=False)
    finally:
        django_registry.registered_checks.discard(flag_product)
    found = {f.code: f for f in report.results[0].findings}
    assert found["shop.W001"].location.path == "testproject/catalog/models.py"
    assert found["shop.W001"].location.line == 4
    assert found["shop.W002"].location == found["shop.W001"].location
    assert found["shop.W003"].location is None


# --- the ledger model and its admin -------------------------------------------------------------


@pytest.mark.django_db
def test_release_serialises_every_field():
    target = Release.objects.create(
        name="r1",
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        status=Release.Status.SUCCEEDED,
        state_after={"catalog": "0004"},
    )
    release = Release.objects.create(
        name="r2",
        kind=Release.Kind.ROLLBACK,
        target=target,
        started_at=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc),
        backup_name="default-r2.psql",
        backup_sha256="ab" * 32,
        backup_size=10,
        image_repository="shop",
        image_digest="sha256:" + "c" * 64,
    )
    data = release.as_dict()
    assert data["backup"]["sha256"] == "ab" * 32
    assert data["image"] == {"repository": "shop", "digest": "sha256:" + "c" * 64}
    assert data["target_id"] == target.pk
    assert release.image == "shop@sha256:" + "c" * 64
    assert str(release) == "rollback r2 on default: pending"
    assert target.as_dict()["backup"] is None and target.image == ""
    assert list(Release.objects.all()) == [release, target]  # newest first


@pytest.mark.django_db
def test_admin_is_read_only(admin_user):
    model_admin = site._registry[Release]
    request = RequestFactory().get("/admin/django_cicd/release/")
    request.user = admin_user
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


def test_module_entry_point_without_settings_exits_2(monkeypatch, capsys):
    from django_cicd.__main__ import main

    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    assert main(["django-cicd", "predeploy"]) == 2
    assert capsys.readouterr().err == (
        "django-cicd: set DJANGO_SETTINGS_MODULE or pass --settings=yourproject.settings\n"
    )
    assert main(["django-cicd"]) == 2
    assert main(["django-cicd", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: django-cicd COMMAND [options]")


def test_unexpected_exception_in_a_command_is_exit_2_and_masked(settings, monkeypatch):
    monkeypatch.setenv("SERVICE_TOKEN", "planted-token-77aa88bb")

    class Command(CicdCommand):
        def handle(self, *args, **options):
            raise RuntimeError(f"driver said: {os.environ['SERVICE_TOKEN']}")

    with pytest.raises(CommandError) as excinfo:
        Command().execute(traceback=False, no_color=True, force_color=False, skip_checks=True)
    assert excinfo.value.returncode == 2
    assert str(excinfo.value) == (
        "test_foundation could not run: RuntimeError: driver said: ******** (run with --traceback for details)"
    )
    assert excinfo.value.__cause__ is None
