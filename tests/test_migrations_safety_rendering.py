"""The partial rendering of the safety analysis produces the SQL ``migrate`` would run: every statement
Django's own executor collects for a whole plan (``sqlmigrate`` for many migrations at once), and no
other, on the vendor of the run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import Q
from django.test import override_settings

from benchmarks.largeproject import generate
from django_cicd import planning
from django_cicd.migrations_safety.analysis import _state_before
from django_cicd.migrations_safety.rendering import PartialRenderer
from tests.scenarios.migrate.helpers import database_url
from tests.utils import ROOT

# Outside a transaction: Django's schema editor refuses to be entered inside one on SQLite, and
# AddIndexConcurrently on PostgreSQL.
pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def django_sql(plan) -> Counter[str]:
    statements = MigrationLoader(connection).collect_sql([(step.migration, False) for step in plan])
    return Counter(s.strip() for s in statements if s.strip() and not s.lstrip().startswith("--"))


def partial_sql(plan, loader) -> Counter[str]:
    migrations = [step.migration for step in plan]
    state, _empty = _state_before(loader, migrations)
    renderer = PartialRenderer()
    collected: list[str] = []
    for migration in migrations:
        editor = connection.schema_editor(collect_sql=True, atomic=False)
        editor.deferred_sql = []
        for operation in migration.operations:
            if operation.reduces_to_sql:
                renderer.render(migration.app_label, operation, state, editor)
            else:
                renderer.forward(migration.app_label, operation, state)
        # What migrate's editor runs: what it collected, then, when it exits, the deferred statements
        # still there.
        collected.extend(editor.collected_sql)
        collected.extend(f"{statement};" for statement in editor.deferred_sql)
    return Counter(s.strip() for s in collected if s.strip())


@pytest.mark.parametrize("package", ["flagged", "near_miss", "accepted"])
def test_partial_rendering_matches_djangos_sql_for_a_scenario(package):
    with override_settings(MIGRATION_MODULES={"catalog": f"tests.scenarios.safety.{package}"}):
        loader = planning.load_graph()
        applied = {key for key in loader.graph.nodes if key[0] != "catalog"} | {("catalog", "0001_initial")}
        plan = planning.forward_plan(loader, applied)
        expected = django_sql(plan)
        assert expected
        assert partial_sql(plan, loader) == expected


def test_partial_rendering_matches_djangos_sql_for_the_whole_project():
    # Every migration of every app from an empty database: relations across apps, the user model,
    # many-to-many tables, renames and removals, the models reused from one operation to the next.
    loader = planning.load_graph()
    plan = planning.forward_plan(loader, set())
    assert len(plan) > 20
    assert partial_sql(plan, loader) == django_sql(plan)


# Run in the generated project's own process: its apps cannot be installed in this one.
GENERATED_CHECK = """
import django
django.setup()
from django_cicd import planning
from tests.test_migrations_safety_rendering import django_sql, partial_sql
loader = planning.load_graph()
plan = planning.forward_plan(loader, set())
expected, got = django_sql(plan), partial_sql(plan, loader)
print(len(plan), sum(expected.values()))
for statement in sorted((expected - got) + (got - expected)):
    print("only in", "Django's" if statement in expected else "ours", statement)
"""


def test_partial_rendering_matches_djangos_sql_for_a_generated_history(tmp_path):
    # benchmarks/largeproject.py's histories: every kind of AddField (nullable, with a default, NOT
    # NULL with a one-off default, foreign keys within the app, to earlier apps and to the user
    # model), AlterField, RenameField, RemoveField, indexes, constraints, unique_together and RunSQL,
    # one after the other on the same models: the models reused from one operation to the next.
    project = generate(tmp_path / "project", apps=8, migrations=30, seed=3)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "largeproject.settings",
        "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
        "DATABASE_URL": database_url(),
    }
    result = subprocess.run(
        [sys.executable, "-c", GENERATED_CHECK], env=env, cwd=project, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    counts, *differences = result.stdout.splitlines()
    migrations, statements = map(int, counts.split())
    assert migrations > 8 * 20 and statements > migrations
    assert differences == []


class IndexReadingTheStateBefore(migrations.AddIndex):
    """An AddIndex whose database_forwards also reads the models before it (as a subclass may)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        from_state.apps.get_model(app_label, self.model_name)
        super().database_forwards(app_label, schema_editor, from_state, to_state)


def fk(to, **kwargs):
    return models.ForeignKey(to, on_delete=models.CASCADE, **kwargs)


# Each operation after the first two is rendered from model classes cached by the ones before it:
# which of them may serve, and which are stale, is what this sequence checks. Made afresh for each
# walk: a RenameField repoints the foreign keys to the field in place, the operations' own fields.
def sequence():
    return [
        migrations.CreateModel("Parent", [("id", models.AutoField(primary_key=True))]),
        migrations.CreateModel(
            "Child",
            [("id", models.AutoField(primary_key=True)), ("parent", fk("shop.parent")), ("note", models.TextField())],
        ),
        migrations.AddField("child", "extra", models.IntegerField(null=True)),
        # A NOT NULL column with a one-off default (the default is in the SQL, not in the state after).
        migrations.AddField("child", "score", models.IntegerField(default=5), preserve_default=False),
        # A column added to Parent: Child's class, which points to Parent, still serves.
        migrations.AddField("parent", "name", models.CharField(max_length=20, default="x")),
        # Parent's key changes type: the foreign key columns pointing to it follow (Django alters them),
        # so Child's cached class, whose relation resolved to the old key, is stale.
        migrations.AlterField("parent", "id", models.BigAutoField(primary_key=True)),
        migrations.AlterField("child", "parent", fk("shop.parent", null=True)),
        migrations.AddIndex("child", models.Index(fields=["extra"], name="child_extra_idx")),
        IndexReadingTheStateBefore("child", models.Index(fields=["parent", "extra"], name="child_pe_idx")),
        migrations.RemoveField("child", "note"),
        # A unique column: a key other models may point to, so the models pointing to Parent are stale.
        migrations.AddField("parent", "code", models.CharField(max_length=10, unique=True, null=True)),
        migrations.AddField("child", "by_code", fk("shop.parent", to_field="code", null=True, related_name="+")),
        migrations.AlterField("parent", "code", models.CharField(max_length=30, unique=True, null=True)),
        migrations.AlterField("child", "by_code", fk("shop.parent", to_field="code", null=True, related_name="by")),
        migrations.AddConstraint("child", models.CheckConstraint(condition=Q(extra__gte=0), name="child_extra_gte")),
        migrations.RemoveIndex("child", "child_extra_idx"),
        migrations.AddIndex("child", models.Index(fields=["extra", "id"], name="child_extra_id_idx")),
        # Parent's table is renamed: Child's cached class would still name the old one in its foreign
        # key, which SQLite's rebuild of Child's table writes out.
        migrations.AlterModelTable("parent", "shop_parent_v2"),
        migrations.AlterField("child", "extra", models.IntegerField(default=0)),
        # A column that is unique through a constraint, not through the field, and a foreign key to it:
        # renaming it repoints the foreign key (in Child's state), so Child's cached class is stale.
        migrations.AddField("parent", "ref", models.IntegerField(null=True)),
        migrations.AddConstraint("parent", models.UniqueConstraint(fields=["ref"], name="parent_ref_uq")),
        migrations.AddField("child", "by_ref", fk("shop.parent", to_field="ref", null=True, related_name="+")),
        migrations.AddIndex("child", models.Index(fields=["score"], name="child_score_idx")),
        migrations.RenameField("parent", "ref", "reference"),
        migrations.AlterField("child", "score", models.IntegerField(default=1)),
    ]


def test_partial_rendering_reuses_and_refreshes_cached_classes_as_djangos_sql_requires():
    # Each operation is rendered by Django and by the renderer, then run, so that both read the same
    # tables where an editor introspects them (MySQL's alter_field reads a foreign key's constraints).
    expected, whole = [], ProjectState()
    got, state, renderer = [], ProjectState(), PartialRenderer()
    try:
        for ours, theirs in zip(sequence(), sequence(), strict=True):
            editor = connection.schema_editor(collect_sql=True, atomic=False)
            editor.deferred_sql = []
            before = whole.clone()
            theirs.state_forwards("shop", whole)
            theirs.database_forwards("shop", editor, before, whole)
            expected.append([*editor.collected_sql, *(f"{s};" for s in editor.deferred_sql)])

            editor = connection.schema_editor(collect_sql=True, atomic=False)
            editor.deferred_sql = []
            got.append(renderer.render("shop", ours, state, editor))

            with connection.schema_editor() as running:
                theirs.database_forwards("shop", running, before, whole)
    finally:
        with connection.cursor() as cursor:
            for table in ("shop_child", "shop_parent", "shop_parent_v2"):
                cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")

    assert any("ALTER" in " ".join(sql) for sql in expected[4:])
    assert got == expected
