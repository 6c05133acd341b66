"""SQLite: an ``flock`` on a file beside the database, ``sqlite_master`` snapshots, scratch files made
with the backup API, and the database file as its identity."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import socket
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_cicd.vendors.base import Catalog, CatalogObject, HeldLock, LockNotAcquired, TableSize, Vendor, wait_loop


def lock_file_path(connection: BaseDatabaseWrapper, purpose: str = "deploy") -> str:
    suffix = "" if purpose == "deploy" else f"-{purpose}"
    return f"{connection.settings_dict['NAME']}.cicd-lock{suffix}"


def read_holder(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


class FileLock(HeldLock):
    """The kernel drops an flock when its holder dies, so a killed run leaves no stale lock."""

    def __init__(self, database: str, purpose: str, info: Mapping[str, Any], path: str) -> None:
        super().__init__(database, purpose, info)
        self.path = path
        self.fd: int | None = None

    def acquire(self, wait: float, interrupted: Callable[[], bool] | None) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for _ in wait_loop(wait, interrupted):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    continue
            else:
                raise LockNotAcquired(self.database, wait, read_holder(self.path))
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.info).encode(), 0)

    def _still_held(self) -> bool:
        # Ours while the file we lock is still the one at the path: a file deleted or replaced under
        # us would let another run lock a new one.
        if self.fd is None:
            return False
        try:
            return os.fstat(self.fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def session(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid()}

    def _release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                if self._still_held():
                    os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


class SQLite(Vendor):
    name = "sqlite"
    #: SQLite's own tables.
    INTERNAL_PREFIX = "sqlite_"

    def new_lock(self, alias: str, purpose: str, info: Mapping[str, Any], *, maintenance: bool) -> HeldLock:
        return FileLock(alias, purpose, info, lock_file_path(connections[alias], purpose))

    def session_id(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid()}

    def session_alive(self, connection: BaseDatabaseWrapper, session: Mapping[str, Any]) -> bool | None:
        # A SQLite database is written from one host: the run is alive while its process is.
        pid = session.get("pid")
        if session.get("host") != socket.gethostname() or not isinstance(pid, int):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def cancel_statement(self, connection: BaseDatabaseWrapper) -> None:
        raw = connection.connection
        if raw is not None:
            raw.interrupt()  # sqlite3's interrupt() may be called from another thread

    def catalog(self, connection: BaseDatabaseWrapper) -> Catalog:
        objects: dict[CatalogObject, str] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
            rows = cursor.fetchall()
            for type_, name, table, sql in rows:
                if type_ == "table":
                    objects[CatalogObject("table", "", name)] = "table"
                    cursor.execute(f"PRAGMA table_info({connection.ops.quote_name(name)})")
                    for _cid, column, col_type, not_null, default, pk in cursor.fetchall():
                        null = "NOT NULL" if not_null else "NULL"
                        key = "PK" if pk else ""
                        definition = f"{col_type} {null} {default or ''} {key}"
                        objects[CatalogObject("column", name, column)] = definition.strip()
                    # Constraints live in the table's SQL: a changed one changes the table's text.
                    objects[CatalogObject("constraint", name, "(table definition)")] = sql or ""
                elif type_ in {"index", "view", "trigger"} and sql:  # sql is NULL for automatic indexes
                    objects[CatalogObject(type_, "" if type_ == "view" else table, name)] = sql
        return Catalog(objects)

    def drop_statements(self, connection: BaseDatabaseWrapper, obj: CatalogObject, definition: str) -> list[str]:
        q = connection.ops.quote_name
        if obj.kind == "view":
            return [f"DROP VIEW IF EXISTS {q(obj.name)}"]
        if obj.kind == "table":
            return [f"DROP TABLE IF EXISTS {q(obj.name)}"]
        if obj.kind == "column":
            return [f"ALTER TABLE {q(obj.table)} DROP COLUMN {q(obj.name)}"]
        if obj.kind == "index":
            return [f"DROP INDEX IF EXISTS {q(obj.name)}"]
        if obj.kind == "trigger":
            return [f"DROP TRIGGER IF EXISTS {q(obj.name)}"]
        return []  # a table's own constraints go with it, or stay as a change the report names

    def table_sizes(self, connection: BaseDatabaseWrapper, tables: list[str]) -> dict[str, TableSize]:
        existing = set(connection.introspection.table_names())
        sizes = {}
        with connection.cursor() as cursor:
            for table in tables:
                if table in existing:
                    cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
                    sizes[table] = TableSize(int(cursor.fetchone()[0]), None)
        return sizes

    def server_version(self, connection: BaseDatabaseWrapper) -> tuple[int, ...] | None:
        return None  # no dump client to compare with: the backup API runs in this process

    def server_description(self, connection: BaseDatabaseWrapper) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def describe_identity(self, identity: Mapping[str, str]) -> str:
        return f"the SQLite file {identity.get('database', '')}"

    def identity(self, connection: BaseDatabaseWrapper) -> dict[str, str]:
        return {"vendor": "sqlite", "database": os.path.realpath(str(connection.settings_dict["NAME"]))}

    def same_database(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        return os.path.realpath(str(a.get("NAME"))) == os.path.realpath(str(b.get("NAME")))

    # -- scratch files -----------------------------------------------------------------------------------
    def scratch_name(self, connection: BaseDatabaseWrapper, token: str) -> str:
        return f"{connection.settings_dict['NAME']}.cicd-scratch-{token}.sqlite3"

    def create_scratch(self, alias: str, name: str, *, template: bool) -> str:
        if not template:
            with contextlib.closing(sqlite3.connect(name)):
                pass
            return ""
        source_path = connections[alias].settings_dict["NAME"]
        with contextlib.closing(sqlite3.connect(source_path)) as src, contextlib.closing(sqlite3.connect(name)) as dst:
            src.backup(dst)
        return "SQLite backup API"

    def drop_scratch(self, alias: str, name: str) -> None:
        for path in (name, f"{name}-journal", f"{name}-wal", f"{name}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def list_scratch(self, alias: str) -> list[str]:
        base = str(connections[alias].settings_dict["NAME"])
        return sorted(glob.glob(f"{glob.escape(base)}.cicd-scratch-*.sqlite3"))
