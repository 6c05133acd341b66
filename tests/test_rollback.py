"""manage.py rollback_release on the real database of the run (SQLite, PostgreSQL or MariaDB): releases
deployed with safe_migrate from scenario migration packages, then rolled back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connections

from django_cicd import hooks, planning
from django_cicd.models import Release
from django_cicd.rollback import RollbackOptions, plan_rollback
from tests.scenarios.migrate.helpers import snapshot
from tests.scenarios.rollback.helpers import code, reset, schema
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def _clean_database():
    reset()
    yield
    reset()


def _deploy(name, **release):
    with code(**release):
        stdout, stderr, exit_code = run_command("safe_migrate", "--release", name, "--format", "json")
    assert exit_code == 0, stdout + stderr
    return json.loads(stdout)


def _rollback(*args, **release):
    with code(**release):
        stdout, stderr, exit_code = run_command("rollback_release", "--noinput", "--format", "json", *args)
    document = json.loads(stdout) if stdout.lstrip().startswith("{") else None
    if document is not None:
        assert document["schema"] == "django-cicd/rollback_release" and document["version"] == 1
    return document, stderr, exit_code


def _tables():
    return set(connections["default"].introspection.table_names())


def _product(name="Lamp", **fields):
    from testproject.catalog.models import Product

    return Product.objects.create(name=name, slug=name.lower(), price="9.99", **fields)


RELEASE_3 = {"catalog": "catalog_next", "orders": "orders_next", "newapp": True}


def _three_releases():
    """r1: the testproject; r2: orders gains a column; r3: catalog gains a table and a column, and a new
    app arrives. Returns the schemas after r1 and after r2."""
    _product()
    _deploy("r1")
    after_r1 = schema()
    _deploy("r2", orders="orders_next")
    after_r2 = schema()
    _deploy("r3", **RELEASE_3)
    assert {"catalog_review", "rollback_newapp_shelf"} <= _tables()
    return after_r1, after_r2


def test_rollback_twice_brings_the_schema_back_release_by_release():
    after_r1, after_r2 = _three_releases()
    document, stderr, exit_code = _rollback(**RELEASE_3)
    assert exit_code == 0, stderr
    assert document["status"] == "rolled_back"
    assert document["from_release"]["name"] == "r3" and document["to_release"]["name"] == "r2"
    # The new app goes first (it depends on catalog.0006), then catalog; orders is untouched.
    assert [(s["app"], s["name"], s["status"]) for s in document["steps"]] == [
        ("rollback_newapp", "0001_initial", "reversed"),
        ("catalog", "0007_product_stock", "reversed"),
        ("catalog", "0006_review", "reversed"),
    ]
    assert all(s["seconds"] is not None for s in document["steps"])
    assert document["backup"]["sha256"] and document["data_loss"] == [
        {
            "migration": "rollback_newapp.0001_initial",
            "operation": "Create model Shelf",
            "table": "rollback_newapp_shelf",
            "column": None,
            "rows": 0,
            "counted": "rows",
        },
        {
            "migration": "catalog.0007_product_stock",
            "operation": "Add field stock to product",
            "table": "catalog_product",
            "column": "stock",
            "rows": 0,
            "counted": "non-default",
        },
        {
            "migration": "catalog.0006_review",
            "operation": "Create model Review",
            "table": "catalog_review",
            "column": None,
            "rows": 0,
            "counted": "rows",
        },
    ]
    assert schema() == after_r2
    assert document["state_after"]["catalog"] == "0005_remove_product_legacy_code"
    assert document["state_after"]["rollback_newapp"] is None
    statuses = {(r.name, r.kind): r.status for r in Release.objects.all()}
    assert statuses == {
        ("r1", "deploy"): "succeeded",
        ("r2", "deploy"): "succeeded",
        ("r3", "deploy"): "rolled_back",
        ("r2", "rollback"): "succeeded",
    }
    row = Release.objects.get(kind="rollback")
    assert row.target.name == "r2" and row.backup_sha256 == document["backup"]["sha256"]
    assert row.details["from_release"] == "r3" and [s["status"] for s in row.plan] == ["reversed"] * 3

    # Again: the current release is now r2, so the default target is r1 (two steps back from r3).
    document, stderr, exit_code = _rollback(orders="orders_next")
    assert exit_code == 0, stderr
    assert document["to_release"]["name"] == "r1"
    assert [s["name"] for s in document["steps"]] == ["0003_order_gift_note"]
    assert schema() == after_r1
    assert Release.objects.filter(kind="rollback", status="succeeded").count() == 2


def test_steps_goes_several_releases_back_at_once():
    after_r1, _ = _three_releases()
    document, stderr, exit_code = _rollback("--steps", "2", **RELEASE_3)
    assert exit_code == 0, stderr
    assert document["to_release"]["name"] == "r1"
    assert {r["name"] for r in document["undone"]} == {"r2", "r3"}
    assert schema() == after_r1
    assert set(Release.objects.filter(kind="deploy").values_list("name", "status")) == {
        ("r1", "succeeded"),
        ("r2", "rolled_back"),
        ("r3", "rolled_back"),
    }


def test_plan_changes_nothing_and_text_lists_the_steps():
    _three_releases()
    before = snapshot()
    with code(**RELEASE_3):
        stdout, stderr, exit_code = run_command("rollback_release", "--plan")
    assert exit_code == 0, stderr
    assert stdout.splitlines()[0] == (
        "rollback_release on database 'default': from release r3 to release r2; reverse 3 migration(s)"
    )
    assert "  reverse             catalog.0007_product_stock" in stdout
    assert stdout.rstrip().splitlines()[-1] == (
        "rollback_release --plan: the rollback of database 'default' to release r2 would run; nothing was changed"
    )
    assert snapshot() == before
    assert not Release.objects.filter(kind="rollback").exists()
    with code(**RELEASE_3):
        stdout, _, exit_code = run_command("rollback_release", "--sql")
    assert exit_code == 0 and "catalog_review" in stdout and "DROP TABLE" in stdout.upper()


def test_data_loss_is_counted_and_refused_without_the_flag():
    _three_releases()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET stock = 7")
        cursor.execute("INSERT INTO catalog_review (stars) VALUES (4)")
        cursor.execute("INSERT INTO catalog_review (stars) VALUES (5)")
    before = snapshot()
    document, stderr, exit_code = _rollback(**RELEASE_3)
    assert exit_code == 1
    assert document["status"] == "refused"
    assert document["refusals"] == [
        'the reverse plan drops data: "catalog_product"."stock": 1 row(s); table "catalog_review": 2 row(s). Pass '
        "--accept-data-loss to roll back anyway (the backup the rollback takes first keeps that data; not with "
        "--no-backup), or keep this release"
    ]
    assert document["backup"] is None  # refused before anything: no backup was taken
    assert stderr.startswith("CommandError: rollback_release REFUSED on database 'default': the reverse plan drops")
    assert snapshot() == before
    assert Release.objects.get(name="r3").status == "succeeded"

    document, stderr, exit_code = _rollback("--accept-data-loss", **RELEASE_3)
    assert exit_code == 0, stderr
    assert "catalog_review" not in _tables()
    assert any(n.startswith("--accept-data-loss: the reverse drops data in") for n in document["notes"])
    # The data is in the backup taken just before the reversal.
    assert document["backup"]["state"]["catalog"] == "0007_product_stock"


def test_the_old_spelling_allow_data_loss_works_too():
    _three_releases()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO catalog_review (stars) VALUES (4)")
    _, _, exit_code = _rollback("--allow-data-loss", **RELEASE_3)
    assert exit_code == 0


def test_code_older_than_the_database_is_refused():
    _three_releases()
    before = snapshot()
    # The code of r2 (no catalog.0006/0007, no new app) against the database of r3.
    document, _stderr, exit_code = _rollback(orders="orders_next")
    assert exit_code == 1
    refusal = document["refusals"][0]
    assert refusal.startswith(
        "the code is older than the database: 2 migration(s) recorded in the database are not in this code "
        "(catalog.0006_review, catalog.0007_product_stock)"
    )
    assert refusal.endswith(
        "run the rollback from the newer release's code (its image still has those migration files), or restore "
        "the backup taken before that release (rollback_release --restore-backup)"
    )
    assert snapshot() == before


def test_reverse_plan_api_refuses_a_target_ahead():
    _deploy("r1")
    from django.db.migrations.executor import MigrationExecutor

    with code(catalog="catalog_next"):
        executor = MigrationExecutor(connections["default"])
        now = planning.state_from_applied(executor.loader, executor.loader.applied_migrations)
        with pytest.raises(planning.PlanningError, match="the target is ahead of the database"):
            planning.reverse_plan(executor, {**now, "catalog": "0007_product_stock"})
        steps = planning.reverse_plan(executor, {**now, "catalog": "0003_populate_slugs"})
        assert [s.label for s in steps] == ["catalog.0005_remove_product_legacy_code", "catalog.0004_product_name_idx"]
        # An app the target does not name did not exist then: it goes to zero.
        del now["orders"]
        steps = planning.reverse_plan(executor, now)
    assert [s.label for s in steps] == ["orders.0002_order_note", "orders.0001_initial"]


def test_irreversible_is_refused_then_restore_backup_brings_rows_and_schema_back():
    _product("Desk Lamp")
    _deploy("r1")
    before = snapshot()
    _deploy("r2", catalog="catalog_irreversible")
    from testproject.catalog.models import Product

    assert Product.objects.get().name == "DESK LAMP"
    after_r2 = snapshot()
    document, _, exit_code = _rollback(catalog="catalog_irreversible")
    assert exit_code == 1
    assert document["irreversible"][0]["migration"] == "catalog.0006_uppercase_names"
    assert document["refusals"][0].startswith(
        "1 operation(s) in the reverse plan have no reverse: catalog.0006_uppercase_names (RunPython uppercase)"
    )
    assert document["refusals"][0].endswith("(--restore-backup)")
    assert snapshot() == after_r2

    document, stderr, exit_code = _rollback("--restore-backup", catalog="catalog_irreversible")
    assert exit_code == 0, stderr
    assert document["mode"] == "restore" and document["status"] == "rolled_back"
    assert document["restore_backup"]["release"] == "r2" and document["restore_backup"]["age_seconds"] >= 0
    assert snapshot() == before
    assert Product.objects.get().name == "Desk Lamp"
    # The restore brought the ledger back as it was before r2; r2's row is written again, rolled back.
    assert set(Release.objects.values_list("name", "kind", "status")) == {
        ("r1", "deploy", "succeeded"),
        ("r2", "deploy", "rolled_back"),
        ("r1", "rollback", "succeeded"),
    }


def test_restore_backup_refuses_a_corrupted_backup():
    _deploy("r1")
    document = _deploy("r2", catalog="catalog_irreversible")
    path = Path(connections["default"].settings_dict["NAME"]).parent  # unused on servers
    del path
    from django_cicd import backups

    backend = backups.storage()
    file = Path(backend.path(document["backup"]["name"]))
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    before = snapshot()
    document, _stderr, exit_code = _rollback("--restore-backup", catalog="catalog_irreversible")
    assert exit_code == 1
    assert "changed since it was taken: its sha256 is" in document["refusals"][0]
    assert snapshot() == before
    assert not Release.objects.filter(kind="rollback").exists()


def test_restore_refuses_without_confirmation_when_there_is_no_terminal():
    _deploy("r1")
    _deploy("r2", catalog="catalog_irreversible")
    with code(catalog="catalog_irreversible"):
        _, stderr, exit_code = run_command("rollback_release", "--restore-backup")
    assert exit_code == 1
    assert "the restore was not confirmed (answer yes at the prompt; without a terminal pass --noinput)" in stderr


def test_a_failure_partway_is_recovered_to_where_the_rollback_started():
    """The reverse of 0006 fails after 0007 was reversed: recovery applies 0007 again, so the database is
    back at release 2 (the code still serving is release 2's) and the ledger says so."""
    _deploy("r1")
    _deploy("r2", catalog="catalog_badreverse")
    before = _tables()
    document, _stderr, exit_code = _rollback(catalog="catalog_badreverse")
    assert exit_code == 1
    assert document["status"] == "recovered" and document["recovery"] == "reversed"
    assert [(s["name"], s["status"]) for s in document["steps"]] == [
        ("0007_product_stock", "undone"),
        ("0006_reverse_fails", "failed"),
    ]
    assert [(s["name"], s["status"]) for s in document["recovery_steps"]] == [("0007_product_stock", "undone")]
    assert document["error"] == "catalog.0006_reverse_fails: RuntimeError: this reverse fails on purpose"
    assert document["state_after"]["catalog"] == "0007_product_stock"
    assert _tables() == before
    row = Release.objects.get(kind="rollback")
    assert row.status == "recovered" and "fails on purpose" in row.error
    assert Release.objects.get(name="r2").status == "succeeded"


def test_a_failure_partway_with_no_recover_says_where_the_database_is_and_how_to_bring_it_back():
    _deploy("r1")
    _deploy("r2", catalog="catalog_badreverse")
    document, _stderr, exit_code = _rollback("--no-recover", catalog="catalog_badreverse")
    assert exit_code == 1
    assert document["status"] == "failed" and document["recovery"] == "skipped"
    assert [(s["name"], s["status"]) for s in document["steps"]] == [
        ("0007_product_stock", "reversed"),
        ("0006_reverse_fails", "failed"),
    ]
    where = next(n for n in document["notes"] if n.startswith("where the database is"))
    assert "catalog=0006_reverse_fails" in where
    assert "this run reversed catalog.0007_product_stock and failed in catalog.0006_reverse_fails" in where
    assert where.endswith(
        f"restore the backup taken just before it (every write since then is lost): manage.py dbrestore --database "
        f"default --input-filename {document['backup']['name']} --noinput (sha256 {document['backup']['sha256']})"
    )
    row = Release.objects.get(kind="rollback")
    assert row.status == "failed" and "fails on purpose" in row.error
    assert Release.objects.get(name="r2").status == "succeeded"


def test_no_previous_release_and_unknown_release():
    document, _, exit_code = _rollback()
    assert exit_code == 1
    assert document["refusals"] == [
        "no succeeded deploy is recorded in the ledger of database 'default': nothing to undo"
    ]
    _deploy("r1")
    document, stderr, exit_code = _rollback()
    assert exit_code == 1
    assert document["refusals"][0].startswith("no previous release: the ledger of database 'default' has 1 succeeded")
    _, stderr, exit_code = _rollback("--to", "nope")
    assert exit_code == 2
    assert stderr == (
        "CommandError: no succeeded deploy named 'nope' (or with that ledger id) in the ledger of database "
        "'default'; recent ones: r1 (manage.py releases --database default)\n"
    )


def test_to_names_a_release_by_id():
    _three_releases()
    r1 = Release.objects.get(name="r1")
    document, stderr, exit_code = _rollback("--to", str(r1.pk), **RELEASE_3)
    assert exit_code == 0, stderr
    assert document["to_release"] == {
        "id": r1.pk,
        "name": "r1",
        "status": "succeeded",
        "started_at": r1.started_at.isoformat(),
        "image": None,
    }


def test_bad_options_exit_2():
    _, stderr, exit_code = run_command("rollback_release", "--database", "replica")
    assert exit_code == 2
    assert stderr == "CommandError: unknown database alias 'replica'; DATABASES has: default, other\n"
    _, stderr, exit_code = run_command("rollback_release", "--docker-service", "a", "--docker-image", "b")
    assert (exit_code, stderr) == (
        2,
        "CommandError: --docker-service and --docker-image cannot be combined; choose one\n",
    )
    _, stderr, exit_code = run_command("rollback_release", "--no-backup", "--environment", "production")
    assert exit_code == 2 and "--no-backup is refused in the 'production' environment" in stderr


def test_plan_api_and_hooks():
    _three_releases()
    with code(**RELEASE_3):
        plan = plan_rollback(RollbackOptions())
    assert not plan.refused and plan.to_release == "r2" and len(plan.steps) == 3
    events = []

    def started(sender, **kwargs):
        events.append(("started", sender))

    def finished(sender, **kwargs):
        events.append(("finished", sender, kwargs["ok"], kwargs["details"]["from_release"], kwargs["release"]))

    hooks.run_started.connect(started)
    hooks.run_finished.connect(finished)
    try:
        _rollback(**RELEASE_3)
    finally:
        hooks.run_started.disconnect(started)
        hooks.run_finished.disconnect(finished)
    assert events == [("started", "rollback_release"), ("finished", "rollback_release", True, "r3", "r2")]


def test_secrets_never_leave(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("PAYMENT_API_KEY", "sk_live_planted_secret_value")
    _deploy("sk_live_planted_secret_value")
    _deploy("r2", catalog="catalog_badreverse")
    outputs = []
    for fmt in ("text", "json"):
        with code(catalog="catalog_badreverse"):
            stdout, stderr, _ = run_command("rollback_release", "--noinput", "--format", fmt, "--plan")
            outputs.append(stdout + stderr)
            report = tmp_path / f"report.{fmt}"
            stdout, stderr, _ = run_command("rollback_release", "--noinput", "--format", fmt, "--output", str(report))
            outputs += [stdout + stderr, report.read_text()]
    for output in outputs:
        assert "sk_live_planted_secret_value" not in output
        assert settings.SECRET_KEY not in output
