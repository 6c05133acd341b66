"""predeploy with a database that does not answer: one finding says so, the checks that need it are skipped.

Before, each check that needs the database raised the driver's error and was reported as a crash
("the check raised OperationalError ... This is a bug in the check"), four times over, beside the
real cause that ``cicd.database.reachable`` reports. Run in a subprocess: the unreachable database
is the process's ``DATABASE_URL`` (pytest's own connections cannot be pointed elsewhere).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.utils import ROOT, need

pytestmark = pytest.mark.slow

#: The checks that need the database and do not answer for it themselves.
DATABASE_CHECKS = [
    "cicd.migrations.unapplied",
    "cicd.migrations.unknown",
    "cicd.migrations.safety",
    "cicd.migrations.reversible",
]
REASON = "the database 'default' does not answer; cicd.database.reachable says why"


def unreachable_url(vendor: str, tmp_path) -> str:
    if vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-directory' / 'db.sqlite3'}"
    need(
        importlib.util.find_spec("psycopg") is not None or importlib.util.find_spec("psycopg2") is not None,
        "the PostgreSQL driver (psycopg) is not installed",
    )
    return "postgres://postgres@127.0.0.1:1/cicd_unreachable"  # port 1: the connection is refused at once


def predeploy(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SENTRY_DSN"}},
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "predeploy", "--format", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_checks_that_need_the_database_are_skipped_with_the_reason(vendor, tmp_path):
    result = predeploy(unreachable_url(vendor, tmp_path))
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    by_id = {r["id"]: r for r in document["checks"]}
    for check_id in DATABASE_CHECKS:
        assert (by_id[check_id]["status"], by_id[check_id]["skipped_reason"]) == ("skipped", REASON), check_id
        assert by_id[check_id]["findings"] == []
    reachable = by_id["cicd.database.reachable"]
    assert reachable["status"] == "failed"
    assert [f["code"] for f in reachable["findings"]] == ["cicd.database.unreachable"]
    assert all(r["status"] != "error" for r in document["checks"])
    assert "This is a bug in the check" not in result.stdout


def test_the_cause_is_reported_when_the_reachable_check_is_not_selected(tmp_path):
    # Skipped checks pass nothing: without the reachability finding this run would exit 0.
    result = predeploy(unreachable_url("sqlite", tmp_path), "--only", "cicd.migrations")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    statuses = {r["id"]: r["status"] for r in document["checks"]}
    assert statuses == {
        "cicd.migrations.missing": "passed",
        "cicd.migrations.conflicts": "passed",
        **dict.fromkeys(DATABASE_CHECKS, "skipped"),
        "cicd.database.reachable": "failed",
    }


def test_a_reachable_database_is_used_as_before(tmp_path):
    result = predeploy(f"sqlite:///{tmp_path / 'db.sqlite3'}", "--only", "cicd.migrations", "--only", "cicd.database")
    document = json.loads(result.stdout)
    statuses = {r["id"]: r["status"] for r in document["checks"]}
    assert statuses["cicd.database.reachable"] == "passed"
    assert statuses["cicd.migrations.unapplied"] == "passed"  # every migration pending: information
    assert statuses["cicd.migrations.unknown"] == "passed"
