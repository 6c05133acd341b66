"""safe_migrate --rehearse: forward, backward, forward on a scratch copy; the target never changes."""

from __future__ import annotations

import json
import os

import pytest
from django.db import connections

from django_cicd import rehearsal, vendors
from tests.scenarios.migrate.helpers import scenario, snapshot
from tests.utils import run_command

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.slow]


def _scratch_names():
    connection = connections["default"]
    if connection.vendor == "sqlite":
        return [n for n in os.listdir(os.path.dirname(connection.settings_dict["NAME"])) if ".cicd-scratch-" in n]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", ["%_cicd_scratch_%"])
        else:
            cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", ["%_cicd_scratch_%"]
            )
        return [row[0] for row in cursor.fetchall()]


def test_rehearsal_passes_and_changes_nothing():
    with scenario("catalog_next"):
        before = snapshot()
        stdout, stderr, code = run_command("safe_migrate", "--rehearse", "--format", "json")
        assert code == 0, stderr
        document = json.loads(stdout)
        assert document["schema"] == "django-cicd/safe_migrate-rehearsal" and document["ok"]
        assert [p["name"] for p in document["phases"]] == ["forward", "backward", "forward_again"]
        assert [s["name"] for s in document["phases"][0]["steps"]] == ["0006_review", "0007_product_stock"]
        assert [s["name"] for s in document["phases"][1]["steps"]] == ["0007_product_stock", "0006_review"]
        if connections["default"].vendor == "postgresql":
            assert any(
                "AccessExclusiveLock on catalog_product" in lock for lock in document["phases"][0]["steps"][1]["locks"]
            )
        assert snapshot() == before
        assert _scratch_names() == []


def test_rehearsal_reports_the_failing_migration():
    with scenario("catalog_fails"):
        before = snapshot()
        stdout, _, code = run_command("safe_migrate", "--rehearse", "--format", "json")
        assert code == 1
        document = json.loads(stdout)
        assert document["failed"] == ["catalog.0007_broken"]
        # forward failed, so the backward and forward-again phases did not run
        assert [(p["name"], p["skipped"]) for p in document["phases"]] == [
            ("forward", False),
            ("backward", True),
            ("forward_again", True),
        ]
        assert snapshot() == before
        assert _scratch_names() == []


def test_leftovers_of_a_killed_rehearsal_are_dropped():
    adapter = vendors.adapter_for("default")
    leftover = adapter.scratch_name(connections["default"], "999999")
    adapter.create_scratch("default", leftover, template=False)
    assert leftover in adapter.list_scratch("default")
    report = rehearsal.rehearse("default", lock_wait=5)
    assert leftover in report.leftovers_dropped
    assert _scratch_names() == []


def test_rehearsal_of_a_data_migration_that_reads_rows_back():
    """On PostgreSQL the rehearsal samples pg_locks after each statement; that sampling has its own
    cursor, so the migration's INSERT ... RETURNING and SELECT still fetch their own rows."""
    with scenario("catalog_column"):
        before = snapshot()
        stdout, stderr, code = run_command("safe_migrate", "--rehearse", "--format", "json")
        document = json.loads(stdout)
        assert code == 0, (document["failed"], [p.get("error") for p in document["phases"]], stderr)
        assert [s["name"] for s in document["phases"][0]["steps"]] == ["0006_product_weight", "0007_weigh_products"]
        assert [s["status"] for p in document["phases"] for s in p["steps"]] == ["ok"] * 6
        if connections["default"].vendor == "postgresql":
            assert any("on catalog_product" in lock for lock in document["phases"][0]["steps"][1]["locks"])
        assert snapshot() == before
        assert _scratch_names() == []
