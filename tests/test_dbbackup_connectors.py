"""django-cicd's django-dbbackup connectors: no database password on a dump or restore client's command
line nor in any error, and every client tracked by django_cicd.children so that a signal can end it.

Each test creates a dedicated database user whose password holds every character that quoting gets
wrong (``' " $ \\ % @ :`` and spaces), points the "other" alias at it, and drops it after. While a
client runs, a wrapper put first on PATH hands the test its pid through a FIFO and waits for the
test's go-ahead; the test reads the live process's /proc/<pid>/cmdline and environ meanwhile.

On this machine PostgreSQL trusts local connections (the shared server's pg_hba.conf), so it does
not check the password: there the tests check that the client received it, byte for byte, in
PGPASSWORD. MariaDB checks it, so there the backup and restore prove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.db import connections

from django_cicd import backups, children
from django_cicd.redaction import MASK, redact
from tests.scenarios.migrate.helpers import snapshot
from tests.utils import need, run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PASSWORD = 'Qz7\'pw "dq" $HOME \\back %41 @host :5432 sp ace!99'
STATE = {"catalog": "0005_remove_product_legacy_code"}
ALIAS = "other"


def password_forms(password: str = PASSWORD) -> list[str]:
    """The password as a shell, a URL, JSON or Python's repr would write it."""
    return [
        password,
        shlex.quote(password),
        quote(password, safe=""),
        quote(password),
        quote_plus(password),
        json.dumps(password)[1:-1],
        repr(password)[1:-1],
    ]


def assert_no_password(text: str) -> None:
    for form in password_forms():
        assert form not in text, f"{form!r} found in {text!r}"
    assert "Qz7" not in text  # no fragment either


def vendor() -> str:
    return connections["default"].vendor


@pytest.fixture
def server_vendor() -> str:
    if vendor() == "sqlite":
        pytest.skip("SQLite has no password: these tests run on PostgreSQL and MariaDB")
    return vendor()


def _admin(sql: str, params: list[Any] | None = None, alias: str = ALIAS) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


@contextlib.contextmanager
def database_user(*, superuser: bool, revoke: str = "") -> Iterator[str]:
    """A dedicated user with PASSWORD on the test database behind ALIAS; ``revoke`` takes a privilege
    away (MariaDB: a privilege name on the schema; PostgreSQL: SELECT on that table)."""
    user = f"cicd_pw_{uuid.uuid4().hex[:10]}"
    name = connections[ALIAS].settings_dict["NAME"]
    if vendor() == "mysql":
        _admin("CREATE USER %s@'%%' IDENTIFIED BY %s", [user, PASSWORD])
        _admin(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@'%%'", [user])
        if revoke:
            _admin(f"REVOKE {revoke} ON `{name}`.* FROM %s@'%%'", [user])
    else:
        attributes = "SUPERUSER" if superuser else "NOSUPERUSER"
        _admin(f'CREATE ROLE "{user}" LOGIN {attributes} PASSWORD %s', [PASSWORD])
        _admin(f'GRANT CONNECT ON DATABASE "{name}" TO "{user}"')
        _admin(f'GRANT USAGE ON SCHEMA public TO "{user}"')
        _admin(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{user}"')
        _admin(f'GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO "{user}"')
        if revoke:
            _admin(f'REVOKE SELECT ON "{revoke}" FROM "{user}"')
    try:
        yield user
    finally:
        connections[ALIAS].close()
        if vendor() == "mysql":
            _admin("DROP USER %s@'%%'", [user])
        else:
            _admin(f'REASSIGN OWNED BY "{user}" TO CURRENT_USER')
            _admin(f'DROP OWNED BY "{user}"')
            _admin(f'DROP ROLE "{user}"')
        connections[ALIAS].close()


@contextlib.contextmanager
def connected_as(user: str) -> Iterator[None]:
    """ALIAS connects as ``user`` with PASSWORD (Django's and dbbackup's view of it, and the secret
    that redaction knows), then as before."""
    settings_dict = connections[ALIAS].settings_dict
    saved = {key: settings_dict.get(key) for key in ("USER", "PASSWORD")}
    connections[ALIAS].close()
    settings_dict.update(USER=user, PASSWORD=PASSWORD)
    try:
        yield
    finally:
        connections[ALIAS].close()
        settings_dict.update(saved)


def _product(name: str) -> None:
    from testproject.catalog.models import Product

    Product.objects.using(ALIAS).create(name=name, slug=name.lower(), price="9.99")


def _cleanup(info: backups.BackupInfo | None) -> None:
    if info is not None:
        backups.discard(backups.storage(), info.name)


# --- the clients, watched while they run --------------------------------------------------------

CLIENTS = {"postgresql": ("pg_dump", "pg_restore"), "mysql": ("mysqldump", "mysql")}

WRAPPER = """#!/bin/sh
# Test stand-in for {program}: tell the test our pid, wait for its go-ahead, become the real client.
printf '%s\\n' "$$" > "{directory}/pid"
read go < "{directory}/go"
exec {real} "$@"
"""


class Watched:
    """What the test saw of one running client."""

    def __init__(self, pid: int, kinds: list[str], cmdline: list[str], environ: dict[str, str], files: dict[str, int]):
        self.pid = pid
        self.kinds = kinds
        self.cmdline = cmdline
        self.environ = environ
        #: option files named on the command line -> their mode while the client ran
        self.files = files


def _read_proc(pid: int) -> tuple[list[str], dict[str, str]]:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    environ = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return cmdline, environ


@pytest.fixture
def popen_returned(monkeypatch) -> Callable[[int], threading.Event]:
    """Spy on children.popen (the real one runs): ``popen_returned(pid)`` is an event set once popen
    has returned that child, so registered it; the test reads children.running() after that."""
    events: dict[int, threading.Event] = {}
    lock = threading.Lock()
    real_popen = children.popen

    def event(pid: int) -> threading.Event:
        with lock:
            return events.setdefault(pid, threading.Event())

    def spy(args: list[str], *, kind: str, **kwargs: Any) -> Any:
        process = real_popen(args, kind=kind, **kwargs)
        event(process.pid).set()
        return process

    monkeypatch.setattr(children, "popen", spy)
    return event


@pytest.fixture
def watch(tmp_path, monkeypatch, popen_returned):
    """``watch(call)`` runs ``call`` in a thread; each dump/restore client it starts stops before it
    runs the real program until the test has read its /proc entry. Returns (result, [Watched])."""
    bin_dir, fifo_dir = tmp_path / "bin", tmp_path / "fifo"
    bin_dir.mkdir()
    fifo_dir.mkdir()
    for program in (*CLIENTS.get(vendor(), ()),):
        real = shutil.which(program)
        need(real is not None, f"{program} is not on PATH")
        wrapper = bin_dir / program
        wrapper.write_text(WRAPPER.format(program=program, directory=fifo_dir, real=shlex.quote(str(real))))
        wrapper.chmod(0o755)
    os.mkfifo(fifo_dir / "pid")
    os.mkfifo(fifo_dir / "go")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def run(call, clients: int, *, terminate: bool = False) -> tuple[Any, list[Watched]]:
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["result"] = call()
            except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
                outcome["error"] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        seen = []
        for _ in range(clients):
            fd = os.open(fifo_dir / "pid", os.O_RDONLY | os.O_NONBLOCK)
            try:
                ready, _, _ = select.select([fd], [], [], 120)
                assert ready, f"no client started within 120 s: {outcome}"
                pid = int(os.read(fd, 64).decode().strip())
            finally:
                os.close(fd)
            cmdline, environ = _read_proc(pid)
            # A client not started through children.popen never sets its event: the check below fails.
            popen_returned(pid).wait(30)
            kinds = [
                kind for kind in (children.DUMP, children.RESTORE) if pid in {p.pid for p in children.running([kind])}
            ]
            files = {}
            for argument in cmdline:
                if argument.startswith("--defaults-extra-file="):
                    path = argument.split("=", 1)[1]
                    files[path] = stat.S_IMODE(os.stat(path).st_mode)
            seen.append(Watched(pid, kinds, cmdline, environ, files))
            if terminate:  # what the run's SIGTERM handler does
                assert children.terminate(grace=5) == [pid]
                continue
            with open(fifo_dir / "go", "w") as go:
                go.write("go\n")
        thread.join(300)
        assert not thread.is_alive()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"], seen

    return run


def _assert_credentials_passed_safely(watched: Watched, kind: str) -> None:
    assert_no_password("\0".join(watched.cmdline))
    assert watched.kinds == [kind], "the client was not started through django_cicd.children"
    if vendor() == "mysql":
        # The MySQL clients read options given first only: the option file is the first argument.
        assert watched.cmdline[2].startswith("--defaults-extra-file="), watched.cmdline
        path = watched.cmdline[2].split("=", 1)[1]
        assert watched.files == {path: 0o600}
        assert not os.path.exists(path), "the option file outlived the client"
        assert "MYSQL_PWD" not in watched.environ
    else:
        assert watched.environ["PGPASSWORD"] == PASSWORD


def test_backup_and_restore_with_a_password_full_of_quotes(server_vendor, watch):
    _product("Lamp")
    with database_user(superuser=True) as user, connected_as(user):
        expected = snapshot(ALIAS)
        info, (dump,) = watch(lambda: backups.take_backup(ALIAS, release="v1", state=STATE), clients=1)
        try:
            _assert_credentials_passed_safely(dump, children.DUMP)
            _product("Chair")
            assert snapshot(ALIAS) != expected
            _, (restore,) = watch(
                lambda: backups.restore_backup(info.name, ALIAS, expected_sha256=info.sha256), clients=1
            )
            _assert_credentials_passed_safely(restore, children.RESTORE)
            assert snapshot(ALIAS) == expected
            assert children.running() == []
        finally:
            _cleanup(info)


def test_a_signal_handler_ends_a_running_dump(server_vendor, watch):
    """children.terminate() (called by the run's signal handler) ends the dump client; the backup fails
    and leaves no file behind."""
    before = _backup_files()
    with pytest.raises(backups.BackupError) as caught:
        watch(lambda: backups.take_backup(ALIAS, release="v1", state=STATE), clients=1, terminate=True)
    assert str(caught.value).startswith(f"the backup of database {ALIAS!r} into ")
    assert children.running() == []
    assert _backup_files() == before


def test_a_failed_dump_shows_no_form_of_the_password(server_vendor):
    """A privilege the dump needs is missing: the error says so, and holds no form of the password."""
    missing = "LOCK TABLES" if vendor() == "mysql" else "catalog_product"
    before = _backup_files()
    with database_user(superuser=False, revoke=missing) as user, connected_as(user):
        with pytest.raises(backups.BackupError) as caught:
            backups.take_backup(ALIAS, release="v1", state=STATE)
        message = str(caught.value)
        assert message.startswith(f"the backup of database {ALIAS!r} into ")
        assert ("LOCK TABLES" in message) if vendor() == "mysql" else ("permission denied" in message)
        assert_no_password(message)
        assert_no_password(repr(caught.value))
    assert _backup_files() == before  # the failed backup left no file


def test_safe_migrate_reports_a_failed_backup_without_the_password(server_vendor):
    """The reported case end to end: safe_migrate's output and the ledger hold no form of the password."""
    from django_cicd.models import Release

    missing = "LOCK TABLES" if vendor() == "mysql" else "catalog_product"
    with database_user(superuser=False, revoke=missing) as user:
        if vendor() == "postgresql":  # enough to write the ledger, so that the failure reaches it
            _admin(f'GRANT INSERT, UPDATE ON django_cicd_release TO "{user}"')
            _admin(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{user}"')
        with connected_as(user):
            stdout, stderr, code = run_command("safe_migrate", "--backup-only", "--database", ALIAS)
        errors = list(Release.objects.using(ALIAS).values_list("error", flat=True))
    assert code != 0
    assert ("LOCK TABLES" if vendor() == "mysql" else "permission denied") in stdout + stderr
    assert_no_password(stdout + stderr + "\n".join(errors))


def _backup_files() -> set[str]:
    location = backups.storage().location
    return set(os.listdir(location)) if os.path.isdir(location) else set()


def test_the_connectors_are_django_cicds_subclasses_of_dbbackups(server_vendor):
    from dbbackup.db.mysql import MysqlDumpConnector
    from dbbackup.db.postgresql import PgDumpBinaryConnector

    from django_cicd import dbbackup_connectors

    connector = backups.connector_for(ALIAS)
    stock = MysqlDumpConnector if vendor() == "mysql" else PgDumpBinaryConnector
    assert isinstance(connector, stock)
    assert type(connector).__module__ == dbbackup_connectors.__name__


@pytest.mark.parametrize("setting", ["DBBACKUP_CONNECTORS", "DBBACKUP_CONNECTOR_MAPPING"])
def test_a_connector_the_project_chose_is_kept(server_vendor, settings, setting):
    """A project that set its own connector keeps it (the docs say to subclass ours instead)."""
    stock = "dbbackup.db.mysql.MysqlDumpConnector" if vendor() == "mysql" else "dbbackup.db.postgresql.PgDumpConnector"
    if setting == "DBBACKUP_CONNECTORS":
        settings.DBBACKUP_CONNECTORS = {ALIAS: {"CONNECTOR": stock}}
    else:
        settings.DBBACKUP_CONNECTOR_MAPPING = {connections[ALIAS].settings_dict["ENGINE"]: stock}
    connector = backups.connector_for(ALIAS)
    assert f"{type(connector).__module__}.{type(connector).__qualname__}" == stock


@pytest.mark.parametrize("form", password_forms())
def test_redaction_masks_every_form_of_a_configured_password(form, monkeypatch):
    monkeypatch.setitem(connections[ALIAS].settings_dict, "PASSWORD", PASSWORD)
    assert redact(f"Error running: mysqldump --password={form} x") == f"Error running: mysqldump --password={MASK} x"
