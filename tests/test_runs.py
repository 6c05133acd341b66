"""The run engine under faults (django_cicd.runs): a lost lock, signals, writes by others while a run
fails, a half-applied non-atomic migration, a lock timeout, older code, bad timeouts.

Every test orders events with handshakes: the migration writes a marker file and waits for a "go"
file (tests/scenarios/migrate/catalog_handshake), or the test waits for a process to exit, or for
the server to show a state. None sleeps to order events.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from django_cicd import locking, vendors
from django_cicd.migrating import MigrateOptions, safe_migrate
from django_cicd.models import Release
from django_cicd.runs import CouldNotRun
from tests.scenarios.migrate.helpers import run_manage, scenario, snapshot
from tests.utils import run_cli, run_command

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.slow]


def _vendor():
    return connections["default"].vendor


def _wait_for(path: Path, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if not path.exists():
        stdout, stderr = process.communicate(timeout=30)
        pytest.fail(f"the run never reached the handshake (exit {process.returncode}): {stderr or stdout}")


def _finish(process, timeout: float = 300):
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def _json(stdout):
    return json.loads(stdout)


def _columns(table):
    connection = connections["default"]
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def _relations():
    connection = connections["default"]
    with connection.cursor() as cursor:
        return {t.name for t in connection.introspection.get_table_list(cursor)}


def _applied():
    return set(MigrationRecorder(connections["default"]).applied_migrations())


def _kill_the_lock_session() -> str:
    """End the session (or file) holding the deploy lock of the test database, as a proxy, an idle
    timeout or a DBA would; return how."""
    connection = connections["default"]
    name = locking.lock_name("default")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from django_cicd.vendors.postgresql import _key_parts, advisory_key

            classid, objid = _key_parts(advisory_key(name))
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
                [classid, objid],
            )
            assert cursor.fetchall() == [(True,)]
            return "pg_terminate_backend"
        if connection.vendor == "mysql":
            from django_cicd.vendors.mysql import lock_name

            cursor.execute("SELECT IS_USED_LOCK(%s)", [lock_name(name)])
            holder = cursor.fetchone()[0]
            assert holder is not None
            cursor.execute(f"KILL {int(holder)}")
            return "KILL"
    # SQLite: the lock file is removed under the holder (a cleanup script, a new volume).
    from django_cicd.vendors.sqlite import lock_file_path

    os.remove(lock_file_path(connection))
    return "lock file removed"


def test_a_lost_lock_stops_the_run_at_once_and_a_second_run_never_recovers_a_live_one(tmp_path):
    """The lock's session dies while a slow migration runs and a second migrator waits. The second
    takes the lock but finds the first still connected: it touches nothing (exit 2). The first notices
    before its next statement, stops (exit 1) and touches nothing more. A third run then finishes the
    job: nothing lost, every ledger row true."""
    marker, go = tmp_path / "marker", tmp_path / "go"
    env = {"CICD_TEST_CATALOG": "catalog_handshake", "CICD_TEST_MARKER": str(marker), "CICD_TEST_GO": str(go)}
    with scenario("catalog_handshake"):
        Group.objects.create(name="written before the deploy")
        first = run_manage("safe_migrate", "--release", "first", "--format", "json", env=env)
        try:
            _wait_for(marker, first)
            _kill_the_lock_session()
            second = run_manage(
                "safe_migrate",
                "--release",
                "second",
                "--lock-wait",
                "60",
                env={"CICD_TEST_CATALOG": "catalog_handshake"},
            )
            code, stdout, stderr = _finish(second)
            assert code == 2, stdout + stderr
            assert "has not finished and its database session is still connected" in stderr
            assert "lost the deploy lock but may still be changing the database" in stderr
            assert "nothing was done" in stderr
        finally:
            go.write_text("go")
        code, stdout, stderr = _finish(first)
        assert code == 1, stderr[-3000:]
        document = _json(stdout)
        assert document["status"] == "failed" and document["recovery"] == "skipped"
        assert document["lock_lost"].startswith("the deploy lock on database 'default' was lost")
        assert "Traceback" not in stderr
        first_row = Release.objects.get(name="first")
        assert first_row.status == Release.Status.FAILED and "was lost" in first_row.error
        assert not Release.objects.filter(name="second").exists()
        if connections["default"].features.can_rollback_ddl:
            # 0007 is atomic: the statement after the handshake raised, its transaction rolled back.
            assert ("catalog", "0007_wait_for_go") not in _applied()
            assert "weight" not in _columns("catalog_product")
        else:
            # MariaDB: the column stays (no transactional DDL) and the row says a later run must undo it.
            assert "weight" in _columns("catalog_product")
            assert first_row.details["needs_recovery"] is True
        third = run_manage(
            "safe_migrate", "--release", "third", "--format", "json", env={"CICD_TEST_CATALOG": "catalog_handshake"}
        )
        code, stdout, stderr = _finish(third)
        assert code == 0, stderr
        document = _json(stdout)
        assert document["status"] == "applied" and document["state_after"]["catalog"] == "0007_wait_for_go"
        assert Release.objects.get(name="third").status == Release.Status.SUCCEEDED
        assert Group.objects.filter(name="written before the deploy").exists()
        first_row.refresh_from_db()
        assert first_row.status == Release.Status.FAILED
        assert not (first_row.details or {}).get("needs_recovery")


@pytest.mark.skipif("connections['default'].vendor != 'postgresql'")
def test_idle_session_timeout_does_not_take_the_lock_away(tmp_path):
    """PostgreSQL ends idle sessions after idle_session_timeout: not the lock's, which opts out. The
    test knows the timeout has passed when the server ends an idle session of its own."""
    import psycopg

    marker, go = tmp_path / "marker", tmp_path / "go"
    env = {"CICD_TEST_CATALOG": "catalog_handshake", "CICD_TEST_MARKER": str(marker), "CICD_TEST_GO": str(go)}
    settings_dict = connections["default"].settings_dict
    database = settings_dict["NAME"]
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"ALTER DATABASE {connections['default'].ops.quote_name(database)} SET idle_session_timeout = '200ms'"
        )
    try:
        with scenario("catalog_handshake"):
            first = run_manage("safe_migrate", "--release", "first", "--format", "json", env=env)
            try:
                _wait_for(marker, first)
                control = psycopg.connect(
                    host=settings_dict["HOST"] or "127.0.0.1",
                    port=settings_dict["PORT"] or 5432,
                    user=settings_dict["USER"],
                    dbname=database,
                    autocommit=True,
                )
                control.execute("SELECT 1")
                deadline = time.monotonic() + 60
                ended = False
                while not ended and time.monotonic() < deadline:
                    try:
                        time.sleep(0.5)  # idle for longer than the timeout: the probe, not an ordering
                        control.execute("SELECT 1")
                    except psycopg.OperationalError:
                        ended = True  # the server enforces the timeout now
                assert ended
                waiter = run_manage(
                    "safe_migrate",
                    "--release",
                    "second",
                    "--lock-wait",
                    "0",
                    env={"CICD_TEST_CATALOG": "catalog_handshake"},
                )
                code, stdout, stderr = _finish(waiter)
                assert code == 2 and "the deploy lock on database 'default' is held by" in stderr
            finally:
                go.write_text("go")
            code, stdout, stderr = _finish(first)
            assert code == 0, stderr
            assert _json(stdout)["status"] == "applied"
    finally:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                f"ALTER DATABASE {connections['default'].ops.quote_name(database)} RESET idle_session_timeout"
            )


def test_sigterm_during_the_apply_stops_after_the_statement_recovers_and_reports(tmp_path):
    marker, go = tmp_path / "marker", tmp_path / "go"
    env = {"CICD_TEST_CATALOG": "catalog_handshake", "CICD_TEST_MARKER": str(marker), "CICD_TEST_GO": str(go)}
    with scenario("catalog_handshake"):
        before = snapshot()
        process = run_manage("safe_migrate", "--release", "stopped", "--format", "json", env=env)
        _wait_for(marker, process)
        process.send_signal(signal.SIGTERM)
        go.write_text("go")
        code, stdout, stderr = _finish(process)
        assert code == 1, stderr
        assert "Traceback" not in stderr
        document = _json(stdout)
        assert document["status"] == "recovered" and document["recovery"] == "reversed"
        assert document["stopped_by"] == "SIGTERM"
        assert [(s["name"], s["status"]) for s in document["plan"]] == [
            ("0006_review", "undone"),
            ("0007_wait_for_go", "failed" if connections["default"].features.can_rollback_ddl else "undone"),
        ]
        assert document["state_after"]["catalog"] == "0005_remove_product_legacy_code"
        assert snapshot() == before
        assert Release.objects.get(name="stopped").status == Release.Status.RECOVERED


def test_a_second_sigterm_stops_the_recovery_and_the_report_says_where_the_database_is(tmp_path):
    """SIGTERM while 0008 runs starts recovery; a second one while recovery reverses 0007 stops it
    after that statement: exit 1, the ledger row failed, the report names where the database is."""
    files = {name: tmp_path / name for name in ("marker", "go", "marker_back", "go_back")}
    env = {
        "CICD_TEST_CATALOG": "catalog_twice",
        "CICD_TEST_MARKER": str(files["marker"]),
        "CICD_TEST_GO": str(files["go"]),
        "CICD_TEST_MARKER_BACK": str(files["marker_back"]),
        "CICD_TEST_GO_BACK": str(files["go_back"]),
    }
    with scenario("catalog_twice"):
        process = run_manage("safe_migrate", "--release", "twice", "--format", "json", env=env)
        _wait_for(files["marker"], process)
        process.send_signal(signal.SIGTERM)
        files["go"].write_text("go")
        _wait_for(files["marker_back"], process)  # recovery is reversing 0007 now
        process.send_signal(signal.SIGTERM)
        files["go_back"].write_text("go")
        code, stdout, stderr = _finish(process)
        assert code == 1, stderr
        assert "Traceback" not in stderr
        document = _json(stdout)
        assert document["status"] == "failed" and document["recovery"] == "not_back"
        assert document["stopped_by"] == "SIGTERM then SIGTERM"
        assert "recovery stopped by SIGTERM then SIGTERM" in document["notes"]
        where = next(n for n in document["notes"] if n.startswith("where the database is"))
        assert "this run applied catalog.0006_review, catalog.0007_weight and failed in catalog.0008_wait" in where
        assert "manage.py dbrestore --database default --input-filename " in where
        row = Release.objects.get(name="twice")
        assert row.status == Release.Status.FAILED and row.finished_at is not None


@pytest.mark.skipif("connections['default'].vendor == 'sqlite'")  # one writer at a time: nobody writes meanwhile
def test_writes_by_others_while_a_run_fails_are_all_kept(tmp_path):
    """The application writes while a run fails (the old recovery restored the backup over them on
    MariaDB). Recovery reverses what the run did: every one of the writes is still there."""
    marker, go = tmp_path / "marker", tmp_path / "go"
    env = {
        "CICD_TEST_CATALOG": "catalog_handshake",
        "CICD_TEST_MARKER": str(marker),
        "CICD_TEST_GO": str(go),
        "CICD_TEST_FAIL": "1",
    }
    with scenario("catalog_handshake"):
        process = run_manage("safe_migrate", "--release", "failing", "--format", "json", env=env)
        try:
            _wait_for(marker, process)
            Group.objects.bulk_create([Group(name=f"customer-{i}") for i in range(60)])
        finally:
            go.write_text("go")
        code, stdout, stderr = _finish(process)
        assert code == 1, stderr
        document = _json(stdout)
        assert document["status"] == "recovered" and document["recovery"] == "reversed", document["notes"]
        assert Group.objects.filter(name__startswith="customer-").count() == 60
        assert "weight" not in _columns("catalog_product")
        assert "catalog_review" not in _relations()
        assert document["error"] == "catalog.0007_wait_for_go: RuntimeError: 0007_wait_for_go fails on purpose"


def test_a_non_atomic_migration_that_fails_halfway_is_undone_on_the_catalog():
    """0007 adds a column, then one RunSQL creates a view, a table and an index and fails. Recovery
    undoes the column operation by operation, drops the view, the table and the index, reverses 0006,
    and judges "back" on the catalog, not only on django_migrations."""
    from testproject.catalog.models import Product

    Product.objects.create(name="Lamp", slug="lamp", price="9.99")
    with scenario("catalog_view"):
        before, relations = snapshot(), _relations()
        catalog_before = vendors.adapter_for("default").catalog(connections["default"])
        stdout, _stderr, code = run_command("safe_migrate", "--release", "view", "--allow-unsafe", "--format", "json")
        assert code == 1
        document = _json(stdout)
        assert document["status"] == "recovered" and document["recovery"] == "reversed", document["notes"]
        dropped = next(n for n in document["notes"] if n.startswith("dropped what catalog.0007_view_then_fail created"))
        assert 'view "catalog_cheap"' in dropped and 'table "catalog_leftover"' in dropped
        assert snapshot() == before and _relations() == relations
        after = vendors.adapter_for("default").catalog(connections["default"])
        assert (
            catalog_before.without_tables({"django_cicd_release", "django_migrations"})
            .diff(after.without_tables({"django_cicd_release", "django_migrations"}))
            .empty
        )
        assert Release.objects.get(name="view").status == Release.Status.RECOVERED


@pytest.mark.skipif("connections['default'].vendor == 'sqlite'")  # no table locks to wait for
def test_a_lock_timeout_is_not_a_partial_migration():
    """0007 waits for a table another session holds and times out: the statement did nothing, so
    recovery reverses 0006 only (no restore), quickly, and says what happened."""
    connection = connections["default"]
    holder = vendors.side_connection("default")
    with scenario("catalog_next"):
        Group.objects.create(name="kept")
        holder.ensure_connection()
        raw = holder.connection
        raw.autocommit = False if connection.vendor == "postgresql" else raw.autocommit
        cursor = raw.cursor()
        try:
            if connection.vendor == "postgresql":
                cursor.execute("LOCK TABLE catalog_product IN ACCESS SHARE MODE")
            else:
                cursor.execute("START TRANSACTION")
                cursor.execute("SELECT COUNT(*) FROM catalog_product")
                cursor.fetchall()
            stdout, _stderr, code = run_command(
                "safe_migrate", "--release", "blocked", "--lock-timeout", "1", "--format", "json"
            )
        finally:
            raw.rollback()
            holder.close()
        assert code == 1
        document = _json(stdout)
        assert document["status"] == "recovered" and document["recovery"] == "reversed"
        assert any("timed out waiting for a table lock" in note for note in document["notes"])
        assert [(s["name"], s["status"]) for s in document["plan"]] == [
            ("0006_review", "undone"),
            ("0007_product_stock", "failed"),
        ]
        assert Group.objects.filter(name="kept").exists()


def test_code_older_than_the_database_records_no_success():
    """After r2, a replica still running r1's code must not write "r1 succeeded" at a state the database
    is not in; --allow-older-code exits 0 for an entrypoint, still recording nothing."""
    with scenario("catalog_next"):
        stdout, stderr, code = run_command("safe_migrate", "--release", "r2", "--format", "json")
        assert code == 0, stderr
        with override_settings(MIGRATION_MODULES={"catalog": "testproject.catalog.migrations"}):
            stdout, stderr, code = run_command("safe_migrate", "--release", "r1", "--format", "json")
            assert code == 1
            document = _json(stdout)
            assert document["status"] == "code_older"
            assert document["unknown_applied"] == ["catalog.0006_review", "catalog.0007_product_stock"]
            note = document["notes"][0]
            assert note.startswith("the database has 2 migration(s) this code does not have: catalog.0006_review, ")
            assert "(applied by release r2, ledger row " in note
            stdout, stderr, code = run_command(
                "safe_migrate", "--release", "r1", "--allow-older-code", "--format", "json"
            )
            assert code == 0
            assert _json(stdout)["status"] == "code_older"
        assert not Release.objects.filter(name="r1").exists()
        assert Release.objects.get(name="r2").status == Release.Status.SUCCEEDED


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--lock-timeout", "inf", "--lock-timeout must be a finite number of seconds, more than 0, not 'inf'"),
        (
            "--statement-timeout",
            "nan",
            "--statement-timeout must be a finite number of seconds, more than 0, not 'nan'",
        ),
        ("--lock-wait", "nan", "--lock-wait must be a finite number of seconds, 0 or more, not 'nan'"),
        ("--lock-timeout", "0", "--lock-timeout must be a finite number of seconds, more than 0, not '0'"),
        ("--lock-wait", "-1", "--lock-wait must be a finite number of seconds, 0 or more, not '-1'"),
    ],
)
@pytest.mark.parametrize("command", ["safe_migrate", "rollback_release"])
def test_timeouts_must_be_finite_and_positive(command, option, value, message):
    _stdout, stderr, code = run_command(command, option, value)
    assert code == 2
    assert stderr == f"CommandError: Error: argument {option}: {message}\n"


def test_timeouts_on_the_command_line_exit_2():
    process = run_cli("safe_migrate", "--lock-timeout", "inf")
    assert process.returncode == 2
    assert "--lock-timeout must be a finite number of seconds, more than 0, not 'inf'" in process.stderr


@pytest.mark.parametrize("field", ["lock_wait", "lock_timeout", "statement_timeout"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_the_python_api_refuses_bad_timeouts(field, value):
    with pytest.raises(CouldNotRun, match=f"--{field.replace('_', '-')} must be "):
        safe_migrate(MigrateOptions(**{field: value}))
    assert not Release.objects.exists()


def test_the_production_refusal_ignores_case():
    with scenario("catalog_next"):
        _stdout, stderr, code = run_command("safe_migrate", "--no-backup", "--environment", "Production")
        assert code == 2
        assert stderr.startswith("CommandError: --no-backup is refused in the 'Production' environment")
        assert ("catalog", "0006_review") not in _applied()


def test_an_unfinished_row_whose_session_is_alive_is_never_recovered():
    """A row left migrating by a run whose database session is still connected belongs to a live run:
    exit 2, the row untouched. Once the session is gone, the next run closes it and goes on."""
    adapter = vendors.adapter_for("default")
    other = vendors.side_connection("default")
    other.ensure_connection()
    session = adapter.session_id(other) if _vendor() != "sqlite" else {"host": os.uname().nodename, "pid": os.getpid()}
    from django_cicd import ledger

    row = ledger.start(
        name="alive",
        kind=Release.Kind.DEPLOY,
        database="default",
        state_before={},
        plan=[],
        details={"session": session},
    )
    with scenario("catalog_next"):
        _stdout, stderr, code = run_command("safe_migrate", "--release", "next")
        assert code == 2
        assert "the run of release alive" in stderr and "its database session is still connected" in stderr
        row.refresh_from_db()
        assert row.status == Release.Status.MIGRATING
        assert ("catalog", "0006_review") not in _applied()
        other.close()
        if _vendor() == "sqlite":
            row.details = {"session": {"host": os.uname().nodename, "pid": 2**22 + 17}}  # no such process
            row.save()
        _stdout, stderr, code = run_command("safe_migrate", "--release", "next")
        assert code == 0, stderr
        row.refresh_from_db()
        assert row.status == Release.Status.FAILED and row.error.startswith("interrupted: the run of release alive")


@pytest.mark.parametrize("replicas", [8, 16])
def test_concurrent_migrators_apply_once_with_one_backup(replicas):
    from django_cicd import backups

    storage = backups.storage()
    with scenario("catalog_next"):
        existing = set(storage.listdir("")[1])
        env = {"CICD_TEST_CATALOG": "catalog_next"}
        processes = [
            run_manage("safe_migrate", "--release", "v2", "--format", "json", env=env) for _ in range(replicas)
        ]
        outcomes = []
        for process in processes:
            code, stdout, stderr = _finish(process)
            assert code == 0, stderr
            outcomes.append(_json(stdout))
        assert sorted(o["status"] for o in outcomes) == ["applied"] + ["nothing_to_apply"] * (replicas - 1)
        assert Release.objects.count() == 1 and Release.objects.get().status == Release.Status.SUCCEEDED
        new = [name for name in set(storage.listdir("")[1]) - existing if not name.endswith(".metadata")]
        assert len(new) == 1


# --- dump and restore clients under signals (a wrapper on PATH stands in for a large database) --------

SLOW_CLIENT = """#!/bin/sh
# Stands in for a dump or restore of a large database: says who it is, then takes its time.
echo $$ > "{pid_file}"
exec sleep 600
"""


def _slow_client(tmp_path, program):
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    pid_file = tmp_path / f"{program}.pid"
    script = directory / program
    script.write_text(SLOW_CLIENT.format(pid_file=pid_file))
    script.chmod(0o755)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}, pid_file


def _wait_for_line(process, text, timeout=120):
    """Read the process's stderr up to the line containing ``text`` (the run says it heard a signal)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"{text!r} never appeared on stderr: {''.join(seen)}")


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.skipif("connections['default'].vendor == 'sqlite'")  # SQLite is copied in-process: no client
def test_sigterm_during_the_backup_ends_the_dump_client_and_changes_nothing(tmp_path):
    program = "pg_dump" if _vendor() == "postgresql" else "mysqldump"
    env, pid_file = _slow_client(tmp_path, program)
    with scenario("catalog_next"):
        before = snapshot()
        process = run_manage(
            "safe_migrate", "--release", "dump", "--format", "json", env={**env, "CICD_TEST_CATALOG": "catalog_next"}
        )
        _wait_for(pid_file, process)
        pid = int(pid_file.read_text())
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, stderr
        assert "safe_migrate: SIGTERM received: stopping after the current statement" in stderr
        assert f"(ended client process {pid})" in stderr
        document = _json(stdout)
        assert document["status"] == "stopped" and document["stopped_by"] == "SIGTERM"
        assert "nothing was changed" in document["summary"]
        assert _gone(pid)
        assert snapshot() == before
        assert not Release.objects.filter(name="dump").exists()


@pytest.mark.skipif("connections['default'].vendor == 'sqlite'")  # SQLite is restored in-process: no client
def test_sigterm_twice_ends_the_restore_client_and_the_ledger_says_where_the_database_is(tmp_path):
    """The first SIGTERM lets a restore in progress finish (stopping it halfway leaves a half-restored
    database); the second ends it. No client outlives the command; the ledger row is failed."""
    program = "pg_restore" if _vendor() == "postgresql" else "mysql"
    assert run_command("safe_migrate", "--release", "r1")[2] == 0  # catalog at 0005: nothing to apply
    with scenario("catalog_next"):
        env = {"CICD_TEST_CATALOG": "catalog_next"}
        deploy = run_manage("safe_migrate", "--release", "r2", env=env)
        assert _finish(deploy)[0] == 0
        slow, pid_file = _slow_client(tmp_path, program)
        process = run_manage(
            "rollback_release", "--restore-backup", "--noinput", "--to", "r1", "--format", "json", env={**env, **slow}
        )
        _wait_for(pid_file, process)
        pid = int(pid_file.read_text())
        process.send_signal(signal.SIGTERM)
        _wait_for_line(process, "rollback_release: SIGTERM received: stopping after the current statement; a second")
        assert not _gone(pid)  # the first signal leaves the restore running
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 1, stderr
        assert f"ending any restore in progress (ended client process {pid})" in stderr
        assert _gone(pid)
        document = _json(stdout)
        assert document["status"] == "failed"
        assert document["stopped_by"] == "SIGTERM then SIGTERM"
        where = next(n for n in document["notes"] if n.startswith("where the database is"))
        assert "manage.py dbrestore --database default --input-filename " in where
        row = Release.objects.get(kind=Release.Kind.ROLLBACK)
        assert row.status == Release.Status.FAILED and row.finished_at is not None
        # The one command the report gives brings the database back to where the rollback started.
        command = where.split("manage.py ", 1)[1].split(" (sha256")[0].split()
        assert command[0] == "dbrestore"
        from django_cicd import backups

        with backups.dbbackup_leaks_files():  # dbbackup's own unclosed files, as in backups.py
            _out, err, code = run_command(*command)
        assert code == 0, err
        assert {"catalog_review"} <= _relations() and "stock" in _columns("catalog_product")
