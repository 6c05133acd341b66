"""safe_migrate under concurrency and SIGKILL, on the real database of the run (marked slow)."""

from __future__ import annotations

import json
import signal
import time

import pytest
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

from django_cicd.models import Release
from tests.scenarios.migrate.helpers import run_manage, scenario, snapshot
from tests.utils import run_command

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.slow]


def test_eight_concurrent_migrators_apply_once():
    with scenario("catalog_next"):
        env = {"CICD_TEST_CATALOG": "catalog_next"}
        processes = [run_manage("safe_migrate", "--release", "v2", "--format", "json", env=env) for _ in range(8)]
        outcomes = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr
            outcomes.append(json.loads(stdout))
        statuses = sorted(o["status"] for o in outcomes)
        assert statuses == ["applied"] + ["nothing_to_apply"] * 7
        applying = [r for r in Release.objects.all() if r.plan]
        assert len(applying) == 1 and applying[0].status == "succeeded"
        assert Release.objects.count() == 1  # the seven replicas of the same release share its row


def _kill_when(marker, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.communicate()[1]
    process.send_signal(signal.SIGKILL)
    process.communicate()


#: Where the process is killed: the scenario whose migrations run, and the migration the rerun ends at.
KILL_POINTS = {
    # in the backup, before anything changed (a storage that writes the marker and sleeps)
    "backup": ("catalog_slow", "0007_slow"),
    # between two migrations: 0007 applied and recorded, 0008 (non-atomic) not started on anything
    "between_migrations": ("catalog_between", "0008_pause"),
    # inside a migration, after its first operation (0007_slow adds a column, then sleeps)
    "inside_migration": ("catalog_slow", "0007_slow"),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_sigkill_then_rerun(tmp_path, point):
    catalog, last = KILL_POINTS[point]
    marker = tmp_path / "marker"
    env = {"CICD_TEST_CATALOG": catalog, "CICD_TEST_MARKER": str(marker), "CICD_TEST_SLEEP": "60"}
    if point == "backup":
        env["CICD_TEST_STORAGE"] = "tests.scenarios.migrate.storages.SlowStorage"
    with scenario(catalog):
        before = snapshot()
        _kill_when(marker, run_manage("safe_migrate", "--release", "killed", env=env))
        # Never "succeeded" for a run that did not finish.
        assert not Release.objects.filter(name="killed", status="succeeded").exists()
        if point == "backup":
            assert snapshot() == before  # the kill came before anything changed
        if point == "between_migrations":
            recorder = MigrationRecorder(connections["default"])
            assert ("catalog", "0007_product_stock") in recorder.applied_migrations()
            assert ("catalog", "0008_pause") not in recorder.applied_migrations()
        rerun = run_manage("safe_migrate", "--release", "rerun", "--format", "json", env={"CICD_TEST_CATALOG": catalog})
        stdout, stderr = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, stderr
        document = json.loads(stdout)
        assert document["status"] == "applied"
        assert document["state_after"]["catalog"] == last
        if point != "backup":
            # The rerun finds the killed run's row, says so, and the ledger no longer calls it running.
            killed = Release.objects.filter(name="killed").get()
            assert killed.status in {"failed", "recovered"}
            assert "interrupted: the run of release killed" in killed.error
            assert any("interrupted" in note for note in document["notes"])
        assert Release.objects.get(name="rerun").status == "succeeded"
        # No stale lock: a third run takes the lock at once and finds nothing to do.
        third = run_manage(
            "safe_migrate",
            "--release",
            "rerun",
            "--lock-wait",
            "0",
            "--format",
            "json",
            env={"CICD_TEST_CATALOG": catalog},
        )
        stdout, stderr = third.communicate(timeout=300)
        assert third.returncode == 0, stderr
        assert json.loads(stdout)["status"] == "nothing_to_apply"


def test_half_failed_migration_undone_exactly():
    """On MariaDB 0007_broken leaves a column and a table behind: recovery undoes them operation by
    operation (no restore), so schema and rows are those before the run."""
    from testproject.catalog.models import Product

    Product.objects.create(name="Lamp", slug="lamp", price="9.99")
    with scenario("catalog_fails"):
        run_command("safe_migrate", "--release", "v1-before")  # nothing to apply: records the state
        before = snapshot()
        stdout, _, code = run_command("safe_migrate", "--release", "bad", "--format", "json")
        assert code == 1
        document = json.loads(stdout)
        assert document["status"] == "recovered" and document["recovery"] == "reversed"
        assert snapshot() == before
        assert "catalog_warehouse" not in connections["default"].introspection.table_names()
