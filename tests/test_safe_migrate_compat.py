"""safe_migrate as a drop-in for migrate: each of migrate's arguments has migrate's effect.

Every test starts the two test databases ("default" and "other", same vendor, same server) at the same
state, runs plain ``migrate`` on "default" and ``safe_migrate`` with the same arguments on "other", and
compares what they did: the rows of django_migrations and every table's columns and rows (content
types and permissions by their natural keys, since the two databases' id sequences differ).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core import checks
from django.core.checks.registry import registry
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.migrations.exceptions import IrreversibleError
from django.test import override_settings

from django_cicd import locking
from django_cicd.models import Release
from tests.scenarios.migrate.helpers import drop_tables, snapshot
from tests.scenarios.rollback.helpers import code, reset
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PLAIN, SAFE = "default", "other"
BY_NATURAL_KEY = ("django_content_type", "auth_permission")
SYNCDB_APP = "tests.scenarios.migrate.syncdb_app"
SYNCDB_TABLES = ("syncdb_app_note_products", "syncdb_app_note")


def _catalog(name: str):
    return override_settings(MIGRATION_MODULES={"catalog": f"tests.scenarios.migrate.{name}"})


def _clean(alias: str) -> None:
    reset(alias)  # migration rows beyond the testproject's, the scenario tables and columns
    drop_tables(alias, *SYNCDB_TABLES, "catalog_warehouse")


@pytest.fixture(autouse=True)
def _twins():
    for alias in (PLAIN, SAFE):
        _clean(alias)
    assert state(PLAIN) == state(SAFE), "the two databases must start alike"
    yield
    for alias in (PLAIN, SAFE):
        _clean(alias)


def recorded(alias: str) -> list[tuple[str, str]]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        return [tuple(row) for row in cursor.fetchall()]


def state(alias: str) -> dict[str, object]:
    """What migrate changes: recorded migrations, schema and rows (ledger and django_migrations apart)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT app_label, model FROM django_content_type ORDER BY app_label, model")
        content_types = cursor.fetchall()
        cursor.execute(
            "SELECT t.app_label, t.model, p.codename, p.name FROM auth_permission p "
            "JOIN django_content_type t ON t.id = p.content_type_id ORDER BY t.app_label, t.model, p.codename"
        )
        permissions = cursor.fetchall()
    return {
        "migrations": recorded(alias),
        "tables": snapshot(alias, exclude=("django_cicd_release", "django_migrations", *BY_NATURAL_KEY)),
        "content_types": [tuple(row) for row in content_types],
        "permissions": [tuple(row) for row in permissions],
    }


def migrate(*args: str, **options: object) -> tuple[str, int]:
    """Plain migrate on PLAIN: (its error, exit code) as the command line would give them."""
    try:
        call_command("migrate", *args, database=PLAIN, verbosity=0, **options)
    except CommandError as exc:
        return str(exc), exc.returncode
    except SystemExit as exc:  # migrate --check
        return "", int(exc.code or 0)
    return "", 0


def safe(*args: str, **options: object) -> tuple[dict, str, int]:
    """safe_migrate on SAFE, JSON report: (report or {}, stderr, exit code)."""
    stdout, stderr, code = run_command("safe_migrate", *args, "--database", SAFE, "--format", "json", **options)
    return (json.loads(stdout) if stdout.strip() else {}), stderr, code


def both(*args: str) -> tuple[dict, int]:
    """The same arguments to migrate (PLAIN) and to safe_migrate (SAFE); the same effect, the same exit code."""
    _, plain_code = migrate(*args)
    document, stderr, code = safe(*args)
    assert code == plain_code, stderr
    assert state(SAFE) == state(PLAIN)
    return document, code


def _release(pk: int) -> Release:
    return Release.objects.using(SAFE).get(pk=pk)


def _insert(alias: str, sql: str, params: list[object]) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


# --- --noinput, --database -------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--noinput", "--no-input"])
def test_noinput_is_accepted_and_migrates_as_migrate_does(flag):
    with _catalog("catalog_next"):
        document, code = both(flag)
    assert code == 0 and document["status"] == "applied"
    assert ("catalog", "0007_product_stock") in recorded(SAFE)
    # The content types and permissions post_migrate creates are those of the state reached, as with migrate.
    assert ("catalog", "review") in state(SAFE)["content_types"]


def test_database_option_migrates_that_alias_only():
    untouched = state(PLAIN)
    with _catalog("catalog_next"):
        document, _, code = safe()
        assert code == 0 and document["database"] == SAFE
        assert state(PLAIN) == untouched
        migrate()
    assert state(SAFE) == state(PLAIN)
    _, stderr, code = run_command("safe_migrate", "--database", "nope")
    assert code == 2 and "unknown database alias 'nope'; DATABASES has: default, other" in stderr


# --- app_label [migration_name] ------------------------------------------------------------------------


def test_app_label_applies_that_apps_migrations():
    with code(catalog="catalog_next", orders="orders_next"):
        document, exit_code = both("catalog")
    assert exit_code == 0 and [s["name"] for s in document["plan"]] == ["0006_review", "0007_product_stock"]
    assert ("orders", "0003_order_gift_note") not in recorded(SAFE)
    assert document["target"] == "catalog"


def test_a_forward_target_applies_up_to_it():
    with _catalog("catalog_next"):
        document, exit_code = both("catalog", "0006")
    assert exit_code == 0 and [s["name"] for s in document["plan"]] == ["0006_review"]
    row = _release(document["ledger_id"])
    assert (row.kind, row.status, row.details["target"]) == ("deploy", "succeeded", "catalog.0006")


def test_a_backward_target_is_reversed_as_migrate_does_and_recorded_as_a_rollback():
    with _catalog("catalog_next"):
        both()
        document, exit_code = both("catalog", "0005")
    assert exit_code == 0 and document["status"] == "reversed" and document["direction"] == "backwards"
    assert [(s["name"], s["status"], s.get("backwards")) for s in document["plan"]] == [
        ("0007_product_stock", "reversed", True),
        ("0006_review", "reversed", True),
    ]
    assert document["backup"] is not None
    row = _release(document["ledger_id"])
    assert (row.kind, row.status, row.backup_name) == ("rollback", "succeeded", document["backup"]["name"])
    assert document["summary"].startswith("safe_migrate: reversed 2 migration(s) to catalog.0005 on database 'other'")


def test_a_backward_target_that_drops_data_is_refused_until_accepted():
    with _catalog("catalog_next"):
        both()
        for alias in (PLAIN, SAFE):
            _insert(alias, "INSERT INTO catalog_review (id, stars) VALUES (%s, %s)", [1, 4])
        before = state(SAFE)
        document, stderr, exit_code = safe("catalog", "0005")
        assert exit_code == 1 and document["status"] == "refused"
        assert state(SAFE) == before and document["ledger_id"] is None
        losses = [(d["migration"], d["table"], d["column"], d["rows"], d["counted"]) for d in document["data_loss"]]
        assert losses == [
            ("catalog.0007_product_stock", "catalog_product", "stock", 0, "non-default"),
            ("catalog.0006_review", "catalog_review", None, 1, "rows"),
        ]
        assert document["refusals"] == [
            'the reverse plan drops data: table "catalog_review": 1 row(s). Pass --accept-data-loss to roll back '
            "anyway (the backup the rollback takes first keeps that data; not with --no-backup), or pick a later "
            "target"
        ]
        assert "safe_migrate REFUSED to migrate database 'other' back to catalog.0005: the reverse plan drops" in stderr
        _, plain_code = migrate("catalog", "0005")
        document, _, exit_code = safe("catalog", "0005", "--accept-data-loss")
    assert (exit_code, plain_code) == (0, 0) and state(SAFE) == state(PLAIN)
    assert [d["rows"] for d in _release(document["ledger_id"]).details["data_loss"]] == [0, 1]


def test_an_irreversible_backward_target_is_refused_before_anything_changes():
    with code(catalog="catalog_irreversible"):
        both()
        before = state(SAFE)
        with pytest.raises(IrreversibleError):  # migrate stops at the migration it cannot reverse
            call_command("migrate", "catalog", "0005", database=PLAIN, verbosity=0)
        document, _, exit_code = safe("catalog", "0005")
    assert exit_code == 1 and document["status"] == "refused" and state(SAFE) == before == state(PLAIN)
    assert document["irreversible"][0]["migration"] == "catalog.0006_uppercase_names"
    assert document["refusals"][0].endswith(
        "Restore the backup taken before the release instead (rollback_release --restore-backup, or a target "
        "before this migration)"
    )


def test_a_backward_target_that_fails_is_brought_back_where_migrate_stops_halfway():
    with code(catalog="catalog_badreverse"):
        both()
        before = state(SAFE)
        with pytest.raises(RuntimeError, match="this reverse fails on purpose"):
            call_command("migrate", "catalog", "0005", database=PLAIN, verbosity=0)
        document, _, exit_code = safe("catalog", "0005")
    assert ("catalog", "0007_product_stock") not in recorded(PLAIN)  # migrate left 0007 reversed
    assert exit_code == 1 and document["status"] == "recovered" and document["recovery"] == "reversed"
    assert [(s["name"], s["status"]) for s in document["plan"]] == [
        ("0007_product_stock", "undone"),
        ("0006_reverse_fails", "failed"),
    ]
    assert state(SAFE) == before
    assert _release(document["ledger_id"]).kind == "rollback"


def test_zero_unapplies_an_app():
    with code(catalog="catalog_next", newapp=True):
        both()
        document, exit_code = both("rollback_newapp", "zero")
    assert exit_code == 0 and [s["name"] for s in document["plan"]] == ["0001_initial"]
    assert not [key for key in recorded(SAFE) if key[0] == "rollback_newapp"]
    assert document["target"] == "rollback_newapp.zero"


def test_a_backward_target_never_becomes_the_release_rollback_release_goes_back_to():
    assert run_command("safe_migrate", "--database", SAFE, "--release", "v1")[2] == 0
    with _catalog("catalog_next"):
        assert run_command("safe_migrate", "--database", SAFE, "--release", "v2")[2] == 0
        assert run_command("safe_migrate", "catalog", "0006", "--database", SAFE, "--release", "v2")[2] == 0
        stdout, stderr, exit_code = run_command(
            "rollback_release", "--plan", "--database", SAFE, "--format", "json", "--noinput"
        )
    assert exit_code == 0, stderr
    document = json.loads(stdout)
    assert (document["from_release"]["name"], document["to_release"]["name"]) == ("v2", "v1")
    assert [s["name"] for s in document["steps"]] == ["0006_review"]


@pytest.mark.parametrize(
    ("args", "scenario"),
    [
        (("nope",), None),
        (("staticfiles",), None),
        (("catalog", "0099"), None),
        (("catalog", "000"), None),
        (("catalog", "--run-syncdb"), None),
        (("--prune",), None),
        ((), "catalog_conflict"),
    ],
)
def test_arguments_migrate_refuses_exit_2_with_migrates_message(args, scenario):
    with _catalog(scenario) if scenario else contextlib.nullcontext():
        message, plain_code = migrate(*args)
        before = state(SAFE)
        _, stderr, exit_code = safe(*args)
    assert (plain_code, exit_code) == (1, 2)  # exit 2, "could not run", is the contract of every command
    assert message.split("\n")[0].rstrip(".)") in stderr
    assert state(SAFE) == before == state(PLAIN)


# --- --fake, --fake-initial, --run-syncdb, --prune --------------------------------------------------------


def test_fake_records_without_running_and_takes_no_backup():
    with _catalog("catalog_next"):
        document, exit_code = both("--fake")
        assert "catalog_review" not in connections[SAFE].introspection.table_names()
        assert [(s["name"], s["status"]) for s in document["plan"]] == [
            ("0006_review", "faked"),
            ("0007_product_stock", "faked"),
        ]
        assert document["backup"] is None and exit_code == 0
        row = _release(document["ledger_id"])
        assert (row.kind, row.status, row.details["fake"]) == ("deploy", "succeeded", "fake")
        assert document["summary"].startswith("safe_migrate: faked 2 migration(s) (recorded only, no SQL run)")
        # Backwards, --fake takes the records back without the reverse's checks: nothing is dropped.
        document, exit_code = both("catalog", "0005", "--fake")
    assert exit_code == 0 and document["backup"] is None
    assert [s["status"] for s in document["plan"]] == ["faked", "faked"]
    assert _release(document["ledger_id"]).kind == "rollback"


def test_fake_initial_records_an_initial_migration_whose_tables_exist():
    with code(catalog="catalog_next", newapp=True):
        both()
        for alias in (PLAIN, SAFE):
            _insert(alias, "DELETE FROM django_migrations WHERE app = %s", ["rollback_newapp"])
        document, exit_code = both("--fake-initial")
    assert exit_code == 0 and [(s["name"], s["status"]) for s in document["plan"]] == [("0001_initial", "faked")]
    assert document["backup"] is not None  # --fake-initial runs the migrations whose tables do not exist
    assert _release(document["ledger_id"]).details["fake"] == "fake_initial"


@pytest.mark.parametrize("args", [("--run-syncdb",), ("syncdb_app", "--run-syncdb")])
def test_run_syncdb_creates_the_tables_of_apps_without_migrations(args):
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, SYNCDB_APP]):
        document, exit_code = both(*args)
        assert set(SYNCDB_TABLES) <= set(connections[SAFE].introspection.table_names())
        assert ("syncdb_app", "note") in state(SAFE)["content_types"]
        assert exit_code == 0 and document["synced"] == ["syncdb_app_note"]
        assert document["backup"] is not None and _release(document["ledger_id"]).details["synced"] == [
            "syncdb_app_note"
        ]
        # Once the tables exist there is nothing left to do, for migrate and for safe_migrate.
        document, exit_code = both(*args)
    assert exit_code == 0 and document["status"] == "nothing_to_apply"


def test_an_app_without_migrations_needs_run_syncdb():
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, SYNCDB_APP]):
        message, _ = migrate("syncdb_app")
        _, stderr, exit_code = safe("syncdb_app")
    assert exit_code == 2 and message == "App 'syncdb_app' does not have migrations." and message in stderr


def test_prune_deletes_the_rows_of_migrations_the_code_no_longer_has():
    applied = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    for alias in (PLAIN, SAFE):
        _insert(
            alias,
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
            ["catalog", "0004_gone", applied],
        )
    document, exit_code = both("catalog", "--prune")
    assert exit_code == 0 and document["status"] == "pruned" and ("catalog", "0004_gone") not in recorded(SAFE)
    assert [(r["app"], r["name"]) for r in document["pruned"]] == [("catalog", "0004_gone")]
    assert document["pruned"][0]["applied"].startswith("2026-01-02T03:04:05")
    assert document["ledger_id"] is None and not Release.objects.using(SAFE).exists()
    document, exit_code = both("catalog", "--prune")
    assert exit_code == 0 and document["pruned"] == []


def test_prune_leaves_the_rows_a_squash_still_replaces():
    with _catalog("catalog_squashed"):
        document, exit_code = both("catalog", "--prune")
    assert exit_code == 0 and document["pruned"] == []
    assert any("catalog.0001_squashed_0005_remove_product_legacy_code" in note for note in document["notes"])


# --- --check, --plan, --skip-checks ---------------------------------------------------------------------


def test_check_exits_1_when_migrations_are_pending_and_changes_nothing():
    document, exit_code = both("--check")
    assert exit_code == 0 and document["plan"] == []
    with _catalog("catalog_next"):
        document, exit_code = both("--check")
        assert exit_code == 1 and [s["name"] for s in document["plan"]] == ["0006_review", "0007_product_stock"]
        # No lock is taken: a check answers while a deploy holds the lock.
        with locking.deploy_lock(SAFE, wait=1, holder_info={"host": "ci", "pid": 1, "release": "v9"}):
            _, stderr, exit_code = safe("--check", "--lock-wait", "0")
    assert exit_code == 1 and (
        "safe_migrate --check: 2 migration(s) to apply on database 'other': catalog.0006_review, "
        "catalog.0007_product_stock" in stderr
    )
    assert not Release.objects.using(SAFE).exists()


def test_check_with_a_backward_target():
    with _catalog("catalog_next"):
        both()
        _, exit_code = both("catalog", "0006", "--check")
        assert exit_code == 1
        _, exit_code = both("catalog", "0007", "--check")
    assert exit_code == 0


def test_plan_lists_what_migrate_plan_lists_and_changes_nothing():
    with _catalog("catalog_next"):
        stdout, _, _ = run_command("migrate", "--plan", "--database", PLAIN, no_color=True)
        migrate_lines = [line.strip() for line in stdout.splitlines()[1:]]
        text, stderr, exit_code = run_command("safe_migrate", "--plan", "--database", SAFE)
        assert exit_code == 0, stderr
        assert migrate_lines == [
            "catalog.0006_review",
            "Create model Review",
            "catalog.0007_product_stock",
            "Add field stock to product",
        ]
        assert "  apply    catalog.0006_review\n    Create model Review\n" in text
        assert "  apply    catalog.0007_product_stock\n    Add field stock to product\n" in text
        both("--plan")
        both()
        for alias in (PLAIN, SAFE):
            _insert(alias, "INSERT INTO catalog_review (id, stars) VALUES (%s, %s)", [1, 4])
        stdout, _, _ = run_command("migrate", "catalog", "0005", "--plan", "--database", PLAIN, no_color=True)
        text, _, exit_code = run_command("safe_migrate", "catalog", "0005", "--plan", "--database", SAFE)
    assert exit_code == 0
    for line in stdout.splitlines()[1:]:
        assert line.strip() in text  # Undo Add field stock to product, Undo Create model Review
    assert "  reverse  catalog.0007_product_stock\n    Undo Add field stock to product\n" in text
    assert '  drops    table "catalog_review": 1 row(s) (catalog.0006_review)' in text
    assert "  refused  the reverse plan drops data" in text
    assert state(SAFE) == state(PLAIN)


@contextlib.contextmanager
def _system_check(message: checks.CheckMessage) -> Iterator[None]:
    def check(app_configs=None, **kwargs):
        return [message]

    checks.register(check)
    try:
        yield
    finally:
        registry.registered_checks.discard(check)


def test_system_checks_run_first_unless_skip_checks():
    with _catalog("catalog_next"), _system_check(checks.Error("the project is broken on purpose", id="tests.E900")):
        # call_command() skips the checks unless told not to; the command line runs them.
        message, plain_code = migrate(skip_checks=False)
        _, stderr, exit_code = safe(skip_checks=False)
        assert (plain_code, exit_code) == (1, 2) and state(SAFE) == state(PLAIN)
        assert "tests.E900" in message and "?: (tests.E900) the project is broken on purpose" in stderr
        assert "safe_migrate did not run: fix the errors above, or pass --skip-checks" in stderr
        document, exit_code = both("--skip-checks")  # as call_command() passes skip_checks=True
    assert exit_code == 0 and document["status"] == "applied"


# --- combinations safe_migrate refuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--rehearse", "catalog"),
            "--rehearse runs the whole pending plan; it cannot be combined with the target catalog",
        ),
        (("--rehearse", "--fake"), "--rehearse runs the whole pending plan; it cannot be combined with --fake"),
        (("--backup-only", "--run-syncdb"), "--backup-only migrates nothing; it cannot be combined with --run-syncdb"),
        (("--plan", "--rehearse"), "--plan and --rehearse cannot be combined; choose one"),
    ],
)
def test_combinations_that_mean_nothing_exit_2(args, message):
    _, stderr, exit_code = run_command("safe_migrate", *args, "--database", SAFE)
    assert exit_code == 2 and message in stderr


def test_system_check_warnings_go_to_stderr_masked_and_the_run_goes_on():
    warning = checks.Warning(f"a setting holds {settings.SECRET_KEY}", id="tests.W900")
    with _catalog("catalog_next"), _system_check(warning):
        document, stderr, exit_code = safe(skip_checks=False)
    assert exit_code == 0 and document["status"] == "applied"
    assert "?: (tests.W900) a setting holds ********" in stderr and settings.SECRET_KEY not in stderr


# --- rollback_release and migrate's flags --------------------------------------------------------------


def test_rollback_release_takes_migrates_noinput_database_and_plan_and_refuses_fake():
    for flag in ("--noinput", "--no-input"):
        stdout, stderr, exit_code = run_command(
            "rollback_release", flag, "--plan", "--database", SAFE, "--format", "json"
        )
        assert exit_code == 1 and json.loads(stdout)["database"] == SAFE  # no release to go back to: refused
    _, stderr, exit_code = run_command("rollback_release", "--fake", "--database", SAFE)
    assert exit_code == 2 and (
        "rollback_release has no --fake: it reverses migrations after its checks, or restores a backup; to only "
        "unrecord migrations, run safe_migrate APP_LABEL MIGRATION_NAME --fake" in stderr
    )


# --- the table in docs/safe-migrate.md --------------------------------------------------------------------


def _option_strings(command: str) -> set[str]:
    from django.core.management import load_command_class

    app = "django.core" if command == "migrate" else "django_cicd"
    parser = load_command_class(app, command).create_parser("manage.py", command)
    return {option for action in parser._actions for option in action.option_strings} | {
        action.dest for action in parser._actions if not action.option_strings
    }


def test_safe_migrate_accepts_every_argument_of_migrate_and_the_docs_say_how():
    from tests.utils import ROOT

    assert _option_strings("migrate") - _option_strings("safe_migrate") == set()
    page = (ROOT / "docs" / "safe-migrate.md").read_text()
    table = page[page.index("## migrate compatibility") : page.index("## Exit codes")]
    documented = " ".join(re.findall(r"^\| ([^|]+) \|", table, re.M))
    base = {"--help", "-h", "--version", "-v", "--verbosity", "--settings", "--pythonpath", "--traceback"}
    base |= {"--no-color", "--force-color"}
    for argument in _option_strings("migrate") - base:
        present = re.search(rf"(?<![\w-]){re.escape(argument)}(?![\w-])", documented)
        assert present, f"{argument} is missing from the migrate compatibility table"
    named = set(re.findall(r"`(test_\w+)`", table))
    defined = set(re.findall(r"^def (test_\w+)", (ROOT / "tests" / "test_safe_migrate_compat.py").read_text(), re.M))
    assert named and named <= defined, f"the table names tests that do not exist: {sorted(named - defined)}"
