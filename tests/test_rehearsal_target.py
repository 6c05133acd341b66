"""safe_migrate --rehearse never touches its target: data migrations written the usual way (the default
manager, ``django.db.connection``, a router) write to the scratch copy, because every alias that
points at the target is repointed to the copy for the rehearsal, as Django's test runner repoints
aliases to the test database; a connection to the target during the rehearsal fails it; the aliases
are restored afterwards, after a failure and after SIGTERM too."""

from __future__ import annotations

import copy
import json
import signal

import pytest
from django.db import connections

from tests.scenarios.migrate.catalog_rehearsal import _cases
from tests.scenarios.migrate.helpers import run_manage, scenario, snapshot
from tests.test_rehearsal import _scratch_names
from tests.utils import run_command

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.slow]

SCENARIO = "catalog_rehearsal"
ALIASES_SETTINGS = "tests.scenarios.aliases.settings"


@pytest.fixture
def case(monkeypatch):
    """Choose what 0006_data does; forget what earlier runs saw."""
    _cases.SEEN.clear()
    _cases.TARGET.clear()
    yield lambda name: monkeypatch.setenv("CICD_TEST_REHEARSAL_CASE", name)
    _cases.SEEN.clear()
    _cases.TARGET.clear()


def _seed():
    with connections["default"].cursor() as cursor:
        for number in range(3):
            cursor.execute(
                "INSERT INTO catalog_product (name, price, slug) VALUES (%s, %s, %s)", [f"Lamp {number}", "9.99", None]
            )


def _rehearse():
    stdout, stderr, code = run_command("safe_migrate", "--rehearse", "--format", "json")
    return json.loads(stdout), stderr, code


def _is_scratch(name: str) -> bool:
    return "_cicd_scratch_" in name or ".cicd-scratch-" in name


def test_the_default_manager_writes_to_the_copy(case):
    case("default_manager")
    _seed()
    target = connections["default"].settings_dict["NAME"]
    with scenario(SCENARIO):
        before = snapshot()
        document, stderr, code = _rehearse()
        assert code == 0, (document["summary"], stderr)
        assert snapshot() == before
    # Forward twice; both times "default" itself was the copy, and the migrating connection saw the
    # row the default manager had written.
    assert [(s["alias"], s["seen"]) for s in _cases.SEEN] == [("default", 1), ("default", 1)]
    assert all(_is_scratch(s["default"]) and s["default"] == s["migrating"] for s in _cases.SEEN)
    assert "default" in document["repointed"]
    assert document["target_connections"] == []
    assert connections["default"].settings_dict["NAME"] == target
    assert _scratch_names() == []


def test_raw_sql_on_django_db_connection_goes_to_the_copy(case):
    case("raw_sql")
    _seed()
    with scenario(SCENARIO):
        before = snapshot()
        document, stderr, code = _rehearse()
        assert code == 0, (document["summary"], stderr)
        assert snapshot() == before
    assert [s["seen"] for s in _cases.SEEN] == [1, 1]
    assert _scratch_names() == []


def _rehearse_in_subprocess(case, *aliases, **env):
    """safe_migrate --rehearse in a subprocess whose settings add ``aliases`` (tests/scenarios/aliases)."""
    process = run_manage(
        "safe_migrate",
        "--rehearse",
        "--format",
        "json",
        env={
            "DJANGO_SETTINGS_MODULE": ALIASES_SETTINGS,
            "CICD_TEST_CATALOG": SCENARIO,
            "CICD_TEST_REHEARSAL_CASE": case,
            "CICD_TEST_ALIASES": ",".join(aliases),
            **env,
        },
    )
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, (json.loads(stdout) if stdout.lstrip().startswith("{") else None), stderr


def test_a_router_to_another_alias_of_the_same_database_goes_to_the_copy():
    """Writes routed to "twin" (same database as "default") and reads routed to "replica" (TEST MIRROR
    "default", NAME another database) both reach the copy: the migration reads its row back."""
    _seed()
    before, before_other = snapshot(), snapshot("other")
    code, document, stderr = _rehearse_in_subprocess(
        "routed", "twin", "replica", CICD_TEST_REPLICA_NAME=connections["other"].settings_dict["NAME"]
    )
    assert code == 0, (document and document["summary"], stderr)
    assert sorted(document["repointed"]) == ["default", "replica", "twin"]
    assert snapshot() == before
    assert snapshot("other") == before_other
    assert _scratch_names() == []


def test_a_connection_to_the_target_fails_the_rehearsal(case):
    """The migration opens a connection of its own with the target's settings and swallows the error:
    the rehearsal fails all the same, and the target is unchanged."""
    case("touches_target")
    _seed()
    _cases.TARGET.update(copy.deepcopy(connections["default"].settings_dict))
    with scenario(SCENARIO):
        before = snapshot()
        document, _, code = _rehearse()
        assert code == 1
        assert snapshot() == before
    assert not document["ok"]
    assert len(document["target_connections"]) >= 1
    assert "connected to the target database" in document["summary"]
    assert _scratch_names() == []


def test_an_alias_that_reaches_the_target_under_another_spelling_fails_the_rehearsal():
    """Settings alone cannot tell that PORT "" and PORT 5432 (3306) are the same server: the alias is
    not repointed, and the server's own identity shows the connection went to the target."""
    if connections["default"].vendor == "sqlite":
        pytest.skip("not applicable to SQLite: a file is compared by its real path, there is no other spelling")
    assert connections["default"].settings_dict["PORT"], "the test databases are reached with an explicit port"
    _seed()
    before = snapshot()
    code, document, stderr = _rehearse_in_subprocess("touches_target_alias", "elsewhere")
    assert code == 1, stderr
    assert snapshot() == before
    assert "elsewhere" not in document["repointed"]
    assert document["target_connections"] == [{"alias": "elsewhere", "how": "the server says it is the target"}]
    assert "connected to the target database" in document["summary"]
    assert _scratch_names() == []


def test_the_alias_is_restored_after_a_failed_rehearsal(case):
    case("fails")
    _seed()
    target = connections["default"].settings_dict["NAME"]
    with scenario(SCENARIO):
        before = snapshot()
        document, _, code = _rehearse()
        assert code == 1
        assert document["failed"] == ["catalog.0006_data"]
        assert connections["default"].settings_dict["NAME"] == target
        assert snapshot() == before  # read from the target again
    assert _scratch_names() == []


def test_sigterm_during_the_rehearsal_ends_it_cleanly():
    """A cancelled CI job: SIGTERM while a data migration runs. The rehearsal stops, drops the copy,
    reports FAILED (interrupted) with exit 1, and the target is unchanged."""
    _seed()
    before = snapshot()
    process = run_manage(
        "safe_migrate",
        "--rehearse",
        "--format",
        "json",
        env={"CICD_TEST_CATALOG": SCENARIO, "CICD_TEST_REHEARSAL_CASE": "interrupted"},
    )
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, (process.returncode, stderr)
    document = json.loads(stdout)
    assert document["interrupted"] == f"signal {int(signal.SIGTERM)}"
    assert not document["ok"]
    assert "interrupted" in document["summary"]
    assert snapshot() == before
    assert _scratch_names() == []
