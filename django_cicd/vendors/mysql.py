"""MySQL and MariaDB: a named lock (``GET_LOCK``), ``lock_wait_timeout`` and ``max_statement_time`` /
``max_execution_time``, information_schema snapshots, scratch schemas, and the server's uid."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_cicd.vendors.base import (
    Catalog,
    CatalogObject,
    HeldLock,
    LockNotAcquired,
    TableSize,
    Vendor,
    driver_error,
    side_connection,
    wait_loop,
)

#: ER_LOCK_WAIT_TIMEOUT: a row or metadata lock was not granted within lock_wait_timeout /
#: innodb_lock_wait_timeout.
LOCK_WAIT_TIMEOUT = 1205


def lock_name(name: str) -> str:
    """GET_LOCK names are limited to 64 characters."""
    return "django-cicd:" + hashlib.sha256(name.encode()).hexdigest()[:40]


class MySQLLock(HeldLock):
    def __init__(self, database: str, purpose: str, info: Mapping[str, Any], wrapper: BaseDatabaseWrapper, name: str):
        super().__init__(database, purpose, info)
        self.wrapper = wrapper
        self.name = name
        self._raw: Any = None
        self._connection_id: int | None = None

    def acquire(self, wait: float, interrupted: Callable[[], bool] | None) -> None:
        self.wrapper.ensure_connection()
        self._raw = self.wrapper.connection
        cursor = self._raw.cursor()
        try:
            # The server must not end this session for being idle while it holds the lock (the
            # heartbeat keeps proxies from doing so).
            cursor.execute("SET SESSION wait_timeout = 31536000, SESSION interactive_timeout = 31536000")
            cursor.execute("SELECT CONNECTION_ID()")
            self._connection_id = cursor.fetchone()[0]
            for _ in wait_loop(wait, interrupted):
                cursor.execute("SELECT GET_LOCK(%s, 0)", [self.name])
                if cursor.fetchone()[0] == 1:
                    return
            cursor.execute("SELECT IS_USED_LOCK(%s)", [self.name])
            holder_id = cursor.fetchone()[0]
            holder: dict[str, Any] = {}
            if holder_id is not None:
                cursor.execute("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = %s", [holder_id])
                row = cursor.fetchone()
                holder["connection"] = f"connection id {holder_id} from {row[0] if row else 'unknown host'}"
            raise LockNotAcquired(self.database, wait, holder)
        finally:
            cursor.close()

    def _still_held(self) -> bool:
        cursor = self._raw.cursor()
        try:
            cursor.execute("SELECT IS_USED_LOCK(%s) = CONNECTION_ID()", [self.name])
            return bool(cursor.fetchone()[0] == 1)
        finally:
            cursor.close()

    def session(self) -> dict[str, Any]:
        return {"connection_id": self._connection_id}

    def _release(self) -> None:
        self.wrapper.close()


class MySQL(Vendor):
    name = "mysql"

    def new_lock(self, alias: str, purpose: str, info: Mapping[str, Any], *, maintenance: bool) -> HeldLock:
        from django_cicd.locking import lock_name as full_name

        return MySQLLock(alias, purpose, info, side_connection(alias), lock_name(full_name(alias, purpose)))

    @staticmethod
    def _is_mariadb(connection: BaseDatabaseWrapper) -> bool:
        return bool(getattr(connection, "mysql_is_mariadb", False))

    def timeout_statements(
        self, connection: BaseDatabaseWrapper, lock_timeout: float | None, statement_timeout: float | None
    ) -> tuple[list[tuple[str, list[Any]]], list[str]]:
        statements: list[tuple[str, list[Any]]] = []
        resets: list[str] = []
        if lock_timeout is not None:
            # Both: DDL waits on metadata locks (lock_wait_timeout), data statements on row locks.
            for variable in ("lock_wait_timeout", "innodb_lock_wait_timeout"):
                statements.append((f"SET SESSION {variable} = %s", [max(1, round(lock_timeout))]))
                resets.append(f"SET SESSION {variable} = DEFAULT")
        if statement_timeout is not None:
            # MariaDB's max_statement_time bounds DDL too; MySQL's max_execution_time only SELECTs.
            if self._is_mariadb(connection):
                statements.append(("SET SESSION max_statement_time = %s", [float(statement_timeout)]))
                resets.append("SET SESSION max_statement_time = DEFAULT")
            else:
                statements.append(("SET SESSION max_execution_time = %s", [max(1, round(statement_timeout * 1000))]))
                resets.append("SET SESSION max_execution_time = DEFAULT")
        return statements, resets

    def session_id(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            return {"connection_id": cursor.fetchone()[0]}

    def session_alive(self, connection: BaseDatabaseWrapper, session: Mapping[str, Any]) -> bool | None:
        connection_id = session.get("connection_id")
        if not isinstance(connection_id, int):
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s", [connection_id])
            return bool(cursor.fetchone()[0])

    def cancel_statement(self, connection: BaseDatabaseWrapper) -> None:
        raw = connection.connection
        if raw is None:
            return
        # MySQLdb has no cancel: ask the server, from a session of our own, to end the running query.
        thread_id = raw.thread_id()
        wrapper = side_connection(connection.alias)
        try:
            wrapper.ensure_connection()
            cursor = wrapper.connection.cursor()
            try:
                cursor.execute(f"KILL QUERY {int(thread_id)}")
            finally:
                cursor.close()
        finally:
            wrapper.close()

    def is_lock_timeout(self, exc: BaseException) -> bool:
        args: tuple[Any, ...] = tuple(getattr(driver_error(exc), "args", ()))
        return bool(args) and args[0] == LOCK_WAIT_TIMEOUT

    # -- catalog -------------------------------------------------------------------------------------
    def catalog(self, connection: BaseDatabaseWrapper) -> Catalog:
        objects: dict[CatalogObject, str] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
            )
            for name, type_ in cursor.fetchall():
                objects[CatalogObject("view" if type_ == "VIEW" else "table", "", name)] = type_
            cursor.execute(
                "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"
            )
            for name, definition in cursor.fetchall():
                objects[CatalogObject("view", "", name)] = f"VIEW:{definition}"
            cursor.execute(
                "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_DEFAULT FROM "
                "information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
                "AND t.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'"
            )
            for table, column, type_, nullable, default in cursor.fetchall():
                null = "NULL" if nullable == "YES" else "NOT NULL"
                objects[CatalogObject("column", table, column)] = f"{type_} {null} {default or ''}".strip()
            cursor.execute(
                "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM "
                "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME, "
                "NON_UNIQUE"
            )
            for table, name, non_unique, columns in cursor.fetchall():
                if name == "PRIMARY":
                    continue
                objects[CatalogObject("index", table, name)] = f"{'INDEX' if non_unique else 'UNIQUE'} ({columns})"
            cursor.execute(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
                "WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_TYPE IN ('FOREIGN KEY', 'CHECK')"
            )
            for table, name, type_ in cursor.fetchall():
                kind = "foreign_key" if type_ == "FOREIGN KEY" else "constraint"
                objects[CatalogObject(kind, table, name)] = type_
            cursor.execute(
                "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE()"
            )
            for table, name, statement in cursor.fetchall():
                objects[CatalogObject("trigger", table, name)] = statement
        return Catalog(objects)

    def drop_statements(self, connection: BaseDatabaseWrapper, obj: CatalogObject, definition: str) -> list[str]:
        q = connection.ops.quote_name
        if obj.kind == "view":
            return [f"DROP VIEW IF EXISTS {q(obj.name)}"]
        if obj.kind == "table":
            return [f"DROP TABLE IF EXISTS {q(obj.name)}"]
        if obj.kind == "column":
            return [f"ALTER TABLE {q(obj.table)} DROP COLUMN {q(obj.name)}"]
        if obj.kind == "foreign_key":
            return [f"ALTER TABLE {q(obj.table)} DROP FOREIGN KEY {q(obj.name)}"]
        if obj.kind == "constraint":
            return [f"ALTER TABLE {q(obj.table)} DROP CONSTRAINT {q(obj.name)}"]
        if obj.kind == "index":
            return [f"DROP INDEX {q(obj.name)} ON {q(obj.table)}"]
        if obj.kind == "trigger":
            return [f"DROP TRIGGER IF EXISTS {q(obj.name)}"]
        return []  # pragma: no cover (every kind is listed above)

    def drop_objects(self, connection: BaseDatabaseWrapper, later: Catalog, objects: list[CatalogObject]) -> list[str]:
        # A new table may be referenced by another new one: drop in any order, with checks off.
        with connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            return super().drop_objects(connection, later, objects)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET FOREIGN_KEY_CHECKS = 1")

    def table_sizes(self, connection: BaseDatabaseWrapper, tables: list[str]) -> dict[str, TableSize]:
        if not tables:
            return {}
        placeholders = ", ".join(["%s"] * len(tables))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES "  # noqa: S608
                f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME IN ({placeholders})",
                list(tables),
            )
            return {name: TableSize(rows, size) for name, rows, size in cursor.fetchall()}

    # -- the server --------------------------------------------------------------------------------------
    def server_version(self, connection: BaseDatabaseWrapper) -> tuple[int, ...] | None:
        # Dump formats change between minor series of MySQL and MariaDB: (major, minor).
        connection.ensure_connection()
        major, minor, *_ = connection.mysql_version  # type: ignore[attr-defined]
        return (major, minor)

    def server_description(self, connection: BaseDatabaseWrapper) -> str:
        connection.ensure_connection()
        info = connection.mysql_server_info  # type: ignore[attr-defined]
        return f"{'MariaDB' if self._is_mariadb(connection) else 'MySQL'} {info.split('-')[0]}"

    def describe_identity(self, identity: Mapping[str, str]) -> str:
        server = identity.get("server_uid")
        return f"MySQL/MariaDB schema {identity.get('database', '')!r}" + (f" on server {server}" if server else "")

    def identity(self, connection: BaseDatabaseWrapper) -> dict[str, str]:
        # MySQL has @@server_uuid; MariaDB has none, but @@server_uid (a hash made at start-up).
        variable = "@@server_uid" if self._is_mariadb(connection) else "@@server_uuid"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {variable}, DATABASE()")
            server, schema = cursor.fetchone()
        return {"vendor": "mysql", "server_uid": str(server or ""), "database": str(schema or "")}

    # -- scratch schemas -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _maintenance_cursor(self, alias: str) -> Iterator[Any]:
        wrapper = side_connection(alias)
        try:
            wrapper.ensure_connection()
            with wrapper.cursor() as cursor:
                yield cursor
        finally:
            wrapper.close()

    def create_scratch(self, alias: str, name: str, *, template: bool) -> str:
        with self._maintenance_cursor(alias) as cursor:
            cursor.execute(f"CREATE DATABASE {connections[alias].ops.quote_name(name)}")
        return ""

    def drop_scratch(self, alias: str, name: str) -> None:
        with self._maintenance_cursor(alias) as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connections[alias].ops.quote_name(name)}")

    def list_scratch(self, alias: str) -> list[str]:
        prefix = self.scratch_prefix(connections[alias])
        with self._maintenance_cursor(alias) as cursor:
            cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE LEFT(schema_name, %s) = %s",
                [len(prefix), prefix],
            )
            return [row[0] for row in cursor.fetchall()]
