"""safe_migrate --stage pre|post (expand/contract), the ledger of a release deployed in two stages, and
rollback_release going back over both."""

from __future__ import annotations

import json

import pytest
from django.db import connections
from django.test import override_settings

from django_cicd.models import Release
from tests.scenarios.migrate.helpers import scenario
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _columns(table="catalog_product"):
    connection = connections["default"]
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def _run(*args):
    stdout, stderr, code = run_command(*args, "--format", "json")
    return json.loads(stdout) if stdout.lstrip().startswith("{") else None, stderr, code


def test_a_release_in_two_stages_and_its_rollback():
    """0006 adds a nullable column (pre), 0007 drops one the new code no longer reads (post). Without
    --stage the drop blocks the deploy; --stage pre applies 0006 and holds 0007 back; --stage post
    applies it; rollback_release takes both rows of the release back to the release before."""
    assert run_command("safe_migrate", "--release", "r1")[2] == 0
    with scenario("catalog_stages"):
        document, _stderr, code = _run("safe_migrate", "--release", "r2")
        assert code == 1 and document["status"] == "blocked"
        assert [f["rule"] for f in document["findings"]] == ["cicd.safety.remove_field"]

        document, stderr, code = _run("safe_migrate", "--release", "r2", "--stage", "pre")
        assert code == 0, stderr
        assert document["status"] == "applied" and document["stage"] == "pre"
        assert [s["name"] for s in document["plan"]] == ["0006_product_subtitle"]
        assert document["held_back"] == ["catalog.0007_remove_product_slug"]
        assert [d["migration"] for d in document["stages"]["post"]] == ["catalog.0007_remove_product_slug"]
        assert "subtitle" in _columns() and "slug" in _columns()

        document, stderr, code = _run("safe_migrate", "--release", "r2", "--stage", "post")
        assert code == 0, stderr
        assert document["status"] == "applied" and document["stage"] == "post"
        assert [s["name"] for s in document["plan"]] == ["0007_remove_product_slug"]
        assert document["findings"] == []  # remove_field is safe once the new code is live
        assert "slug" not in _columns()

        rows = list(Release.objects.filter(name="r2").order_by("started_at"))
        assert [(r.details.get("stage"), r.status) for r in rows] == [("pre", "succeeded"), ("post", "succeeded")]
        stdout, _stderr, code = run_command("releases")
        assert code == 0 and "deploy (pre)" in stdout and "deploy (post)" in stdout

        document, stderr, code = _run("rollback_release", "--noinput")
        assert code == 0, stderr
        assert document["to_release"]["name"] == "r1"
        assert sorted(r["name"] for r in document["undone"]) == ["r2", "r2"]
        assert [s["name"] for s in document["steps"]] == ["0007_remove_product_slug", "0006_product_subtitle"]
        assert "subtitle" not in _columns() and "slug" in _columns()
        assert set(Release.objects.filter(name="r2").values_list("status", flat=True)) == {"rolled_back"}


def test_a_rename_blocks_both_stages_with_the_expand_contract_steps():
    with scenario("catalog_rename"):
        for stage in ("pre", "post"):
            document, _stderr, code = _run("safe_migrate", "--release", "r2", "--stage", stage)
            assert code == 1
            assert document["status"] == "blocked"
            assert document["stages"]["blocked"][0]["migration"] == "catalog.0006_rename_product_name"
            assert "cicd.safety.rename_field" in document["hint"]
            assert any("can run safely neither before nor after the rollout" in n for n in document["notes"])
        assert "name" in _columns()
        assert not Release.objects.filter(name="r2").exists()


def test_stage_pre_with_nothing_safe_before_the_rollout_changes_nothing():
    with scenario("catalog_unsafe"):  # 0006 only drops a column
        document, _stderr, code = _run("safe_migrate", "--release", "r2", "--stage", "pre")
        assert code == 0
        assert document["status"] == "nothing_to_apply" and document["held_back"] == [
            "catalog.0006_remove_product_slug"
        ]
        assert "slug" in _columns()


def test_stage_cannot_be_combined_with_a_target():
    _stdout, stderr, code = run_command("safe_migrate", "catalog", "--stage", "pre")
    assert code == 2
    assert "--stage applies a release's migrations in two steps; it cannot be combined with a target" in stderr


def test_the_rollback_plan_names_the_window_the_new_code_runs_in():
    """r1 has reviews with stars (NOT NULL, default 5 in Python only); r2 drops the column. Reversing it
    puts the column back while r2's code, which does not know it, still serves: its inserts fail.
    rollback_release --plan says so, with the order to go back in."""
    with scenario("catalog_remove_stars"):
        with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.migrate.catalog_review"}):
            assert run_command("safe_migrate", "--release", "r1")[2] == 0  # r1's code: up to 0006_review
        assert run_command("safe_migrate", "--release", "r2", "--allow-unsafe")[2] == 0
        document, stderr, code = _run("rollback_release", "--plan")
        assert code == 0, stderr
        window = document["window"]
        assert [f["rule"] for f in window["findings"]] == ["cicd.safety.window_not_null_column"]
        assert window["order"] in {"schema_first", "image_first", "stop_writes"} and window["steps"]
        stdout, _stderr, code = run_command("rollback_release", "--plan")
        assert code == 0
        assert f"  window   {window['summary']}" in stdout
        assert '"catalog_review"."stars"' in stdout.split("  window   ", 1)[1]
