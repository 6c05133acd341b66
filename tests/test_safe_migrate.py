"""manage.py safe_migrate: plan, gate, backup, ledger, apply, recovery, outputs and exit codes."""

from __future__ import annotations

import json

import pytest
from django.db import connections

from django_cicd import hooks
from django_cicd.models import Release
from tests.scenarios.migrate.helpers import scenario, snapshot
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _product(name="Lamp"):
    from testproject.catalog.models import Product

    return Product.objects.create(name=name, slug=name.lower(), price="9.99")


def _json(stdout):
    document = json.loads(stdout)
    assert document["schema"] in {"django-cicd/safe_migrate", "django-cicd/safe_migrate-plan"}
    assert document["version"] == 1 and document["command"] == "safe_migrate"
    return document


def test_nothing_to_apply_records_the_release_once_without_a_backup():
    stdout, stderr, code = run_command("safe_migrate", "--release", "v1", "--format", "json")
    assert code == 0, stderr
    document = _json(stdout)
    assert document["status"] == "nothing_to_apply" and document["backup"] is None and document["plan"] == []
    assert Release.objects.get().name == "v1"
    stdout, _, code = run_command("safe_migrate", "--release", "v1", "--format", "json")
    assert code == 0 and _json(stdout)["ledger_id"] == Release.objects.get().pk


def test_applies_with_backup_ledger_and_image():
    _product()
    with scenario("catalog_next"):
        stdout, stderr, code = run_command(
            "safe_migrate", "--release", "v2", "--image", "shop@sha256:" + "b" * 64, "--format", "json"
        )
        assert code == 0, stderr
        document = _json(stdout)
        assert document["status"] == "applied"
        assert [(s["name"], s["status"]) for s in document["plan"]] == [
            ("0006_review", "applied"),
            ("0007_product_stock", "applied"),
        ]
        assert all(s["seconds"] is not None for s in document["plan"])
        assert document["state_after"]["catalog"] == "0007_product_stock"
        row = Release.objects.get(pk=document["ledger_id"])
        assert row.status == "succeeded" and row.name == "v2"
        assert row.backup_sha256 == document["backup"]["sha256"] and row.backup_name == document["backup"]["name"]
        assert (row.image_repository, row.image_digest) == ("shop", "sha256:" + "b" * 64)
        assert row.state_before["catalog"] == "0005_remove_product_legacy_code"


@pytest.mark.docker  # a tag is pinned to a digest by asking the engine (containers.pin)
def test_image_from_the_environment_variable(monkeypatch, settings):
    settings.CICD = {"IMAGE_VARIABLE": "MY_IMAGE"}
    monkeypatch.setenv("MY_IMAGE", "registry.example.com/shop:1.4")
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--format", "json", "--release", "v3")
        assert code == 0
        assert Release.objects.get(pk=_json(stdout)["ledger_id"]).image == "registry.example.com/shop:1.4"


def test_a_failing_migration_is_recovered_to_the_exact_prior_state():
    """On PostgreSQL and SQLite 0007 was rolled back by the database and the applied 0006 is reversed; on
    MariaDB (no transactional DDL) 0007's column and table are undone operation by operation first.
    Either way schema and rows are those before the run, and no backup is restored."""
    _product()
    with scenario("catalog_fails"):
        before = snapshot()
        stdout, stderr, code = run_command("safe_migrate", "--release", "bad", "--format", "json")
        assert code == 1
        document = _json(stdout)
        assert document["status"] == "recovered"
        assert document["recovery"] == "reversed"
        assert "catalog.0007_broken: RuntimeError: this migration fails halfway on purpose" in document["error"]
        assert snapshot() == before
        row = Release.objects.get(name="bad")
        assert row.status == "recovered" and "fails halfway" in row.error
        assert stderr.splitlines()[-1].startswith(
            "CommandError: safe_migrate FAILED on database 'default' and database 'default' is back"
        )


def test_no_recover_leaves_the_database_and_says_where_it_is():
    with scenario("catalog_fails"):
        stdout, _, code = run_command("safe_migrate", "--release", "bad", "--no-recover", "--format", "json")
        assert code == 1
        document = _json(stdout)
        assert document["status"] == "failed" and document["recovery"] == "skipped"
        where = next(n for n in document["notes"] if n.startswith("where the database is"))
        assert f"--input-filename {document['backup']['name']}" in where
        assert Release.objects.get(name="bad").status == "failed"


def test_text_output_says_each_fact_once():
    """Progress names the migrations once, as they are applied (consecutive ones of one app on one line);
    the report after it does not list them again, and shows the state as the apps that change (every app
    and every step at verbosity 2)."""
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--release", "v2")
        assert code == 0
        assert stdout.count("catalog.0006_review") == 1
        assert "  applied   catalog.0006_review ... 0007_product_stock (2 migrations, " in stdout
        assert "applying" not in stdout
        assert (
            "  state    catalog 0005_remove_product_legacy_code -> 0007_product_stock "
            "(7 other app(s) unchanged)" in stdout
        )
        assert "accounts=" not in stdout
        lines = stdout.rstrip().splitlines()
        assert lines[-1] == "safe_migrate: applied 2 migration(s) on database 'default' (release v2)"
        assert len(lines) <= 8, stdout
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--release", "v3", "--verbosity", "2")
        assert code == 0
        assert "  applying  catalog.0006_review ..." in stdout and "  before   accounts=" in stdout
        assert stdout.count("catalog.0006_review") == 3  # applying, applied, and the step in the report
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--release", "v4", "--verbosity", "0")
        assert code == 0
        assert stdout == "safe_migrate: applied 2 migration(s) on database 'default' (release v4)\n"


def test_plan_and_sql_change_nothing():
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--plan", "--format", "json")
        assert code == 0
        document = _json(stdout)
        assert document["status"] == "planned"
        assert [s["name"] for s in document["plan"]] == ["0006_review", "0007_product_stock"]
        stdout, _, code = run_command("safe_migrate", "--sql")
        assert code == 0 and "CREATE TABLE" in stdout and "catalog_review" in stdout
        assert "catalog_review" not in connections["default"].introspection.table_names()
    assert Release.objects.count() == 0


def test_backup_only():
    with scenario("catalog_next"):
        stdout, _, code = run_command("safe_migrate", "--backup-only", "--format", "json")
        assert code == 0
        document = _json(stdout)
        assert document["status"] == "backup_only" and document["backup"]["sha256"]
        assert "catalog_review" not in connections["default"].introspection.table_names()


def test_verify_restore():
    _product()
    with scenario("catalog_next"):
        stdout, stderr, code = run_command("safe_migrate", "--verify-restore", "--format", "json")
        assert code == 0, stderr
        assert any(n.startswith("--verify-restore: ") for n in _json(stdout)["notes"])


def test_no_backup_is_refused_in_production():
    with scenario("catalog_next"):
        _, stderr, code = run_command("safe_migrate", "--no-backup", "--environment", "production")
        assert code == 2
        assert stderr == (
            "CommandError: --no-backup is refused in the 'production' environment: without a backup a failed "
            "migration cannot be undone; drop --no-backup, or add --force if another backup was taken just now\n"
        )
        assert "catalog_review" not in connections["default"].introspection.table_names()
        _, _, code = run_command("safe_migrate", "--no-backup", "--environment", "production", "--force")
        assert code == 0


def test_unknown_alias():
    _, stderr, code = run_command("safe_migrate", "--database", "replica")
    assert code == 2
    assert stderr == "CommandError: unknown database alias 'replica'; DATABASES has: default, other\n"


def test_unreachable_database(settings):
    from django.db import connections as handler

    alias = "unreachable"
    engine = connections["default"].settings_dict["ENGINE"]
    broken = {**connections["default"].settings_dict, "NAME": "/nonexistent/dir/db.sqlite3"}
    if not engine.endswith("sqlite3"):
        broken.update(HOST="127.0.0.1", PORT="1", PASSWORD="planted-secret-pw")
    handler.settings[alias] = broken
    try:
        _, stderr, code = run_command("safe_migrate", "--database", alias)
    finally:
        handler[alias].close()
        del handler[alias]
        del handler.settings[alias]
    assert code == 2
    assert stderr.startswith(f"CommandError: cannot connect to database '{alias}' (")
    assert stderr.rstrip().endswith(f"check DATABASES['{alias}'] and that the server is reachable from here")
    assert "planted-secret-pw" not in stderr


def test_storage_that_fails_changes_nothing(settings, tmp_path):
    """A real full disk cannot be made safely on a shared machine: a storage raising ENOSPC stands in."""
    settings.STORAGES = {
        **settings.STORAGES,
        "dbbackup": {
            "BACKEND": "tests.scenarios.migrate.storages.FullDiskStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    with scenario("catalog_next"):
        before = snapshot()
        _, stderr, code = run_command("safe_migrate")
        assert code == 2
        assert "No space left on device" in stderr and stderr.rstrip().endswith("nothing was changed")
        assert snapshot() == before


def test_hooks_are_sent(settings):
    events = []

    def started(sender, **kwargs):
        events.append(("started", sender, kwargs["release"], kwargs["database"]))

    def finished(sender, **kwargs):
        events.append(("finished", sender, kwargs["ok"], kwargs["exit_code"], kwargs["details"]["status"]))

    hooks.run_started.connect(started)
    hooks.run_finished.connect(finished)
    try:
        with scenario("catalog_fails"):
            run_command("safe_migrate", "--release", "bad")
    finally:
        hooks.run_started.disconnect(started)
        hooks.run_finished.disconnect(finished)
    assert events == [
        ("started", "safe_migrate", "bad", "default"),
        ("finished", "safe_migrate", False, 1, "recovered"),
    ]


def test_secrets_never_leave(settings, monkeypatch):
    monkeypatch.setenv("PAYMENT_API_KEY", "sk_live_planted_secret_value")
    with scenario("catalog_fails"):
        stdout, stderr, _ = run_command("safe_migrate", "--release", "sk_live_planted_secret_value", "--format", "json")
    assert "sk_live_planted_secret_value" not in stdout + stderr
    assert settings.SECRET_KEY not in stdout + stderr


def test_releases_command_lists_the_ledger():
    stdout, _, code = run_command("releases")
    assert code == 0 and stdout == "no releases recorded in database 'default'\n"
    with scenario("catalog_next"):
        run_command("safe_migrate", "--release", "v2")
    stdout, _, code = run_command("releases")
    assert code == 0
    header, row = stdout.splitlines()[:2]
    assert header.split()[:4] == ["id", "release", "kind", "status"]
    assert row.split()[1:4] == ["v2", "deploy", "succeeded"]
    stdout, _, code = run_command("releases", "--format", "json")
    document = json.loads(stdout)
    assert document["schema"] == "django-cicd/releases" and document["version"] == 1
    assert document["releases"][0]["name"] == "v2" and document["releases"][0]["backup"]["sha256"]
    _, stderr, code = run_command("releases", "--database", "nope")
    assert code == 2 and stderr == "CommandError: unknown database alias 'nope'; DATABASES has: default, other\n"


def test_the_safety_gate_blocks_then_allow_unsafe_runs():
    with scenario("catalog_unsafe"):
        stdout, stderr, code = run_command("safe_migrate", "--release", "v4", "--format", "json")
        assert code == 1
        document = _json(stdout)
        assert document["status"] == "blocked" and document["backup"] is None
        assert document["findings"] and document["findings"][0]["migration"] == "catalog.0006_remove_product_slug"
        assert (
            stderr.splitlines()[-1]
            == (
                "CommandError: safe_migrate: 1 blocking finding(s) in the plan for database 'default'; nothing was "
                "changed; fix the migrations, accept the findings in CICD['MIGRATION_SAFETY'], or pass --allow-unsafe"
            )
            or "blocking finding(s)" in stderr
        )
        assert Release.objects.count() == 0
        stdout, _, code = run_command("safe_migrate", "--release", "v4", "--allow-unsafe", "--format", "json")
        assert code == 0 and _json(stdout)["status"] == "applied"
