"""PostgreSQL: a session advisory lock, ``lock_timeout``/``statement_timeout``, pg_catalog snapshots,
``CREATE DATABASE ... TEMPLATE`` scratch copies, and the cluster's system identifier."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from django.db import DatabaseError
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

#: SQLSTATE of "could not obtain lock" (lock_timeout, NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


def advisory_key(name: str) -> int:
    """PostgreSQL advisory locks take a signed 64-bit key."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _key_parts(key: int) -> tuple[int, int]:
    # pg_locks shows a bigint key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def application_name(info: Mapping[str, Any]) -> str:
    """Who holds the lock, for waiters: pg_stat_activity.application_name keeps 63 bytes."""
    compact = {"h": str(info.get("host", ""))[:24], "p": info.get("pid"), "r": str(info.get("release", ""))[:12]}
    return ("cicd" + json.dumps(compact, separators=(",", ":")))[:63]


_HOLDS = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
    "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)"
)


class PostgreSQLLock(HeldLock):
    def __init__(self, database: str, purpose: str, info: Mapping[str, Any], wrapper: BaseDatabaseWrapper, key: int):
        super().__init__(database, purpose, info)
        self.wrapper = wrapper
        self.key = key
        self._raw: Any = None
        self._backend_pid: int | None = None

    def acquire(self, wait: float, interrupted: Callable[[], bool] | None) -> None:
        self.wrapper.ensure_connection()
        self.wrapper.set_autocommit(True)
        self._raw = self.wrapper.connection
        with self._raw.cursor() as cursor:
            # The server must not end this session for being idle: it holds the lock while it waits
            # for the migrations (a proxy's idle limit is met by the heartbeat).
            cursor.execute("SELECT set_config('application_name', %s, false)", [application_name(self.info)])
            cursor.execute("SELECT set_config('idle_session_timeout', '0', false)")
            cursor.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', false)")
            cursor.execute("SELECT set_config('statement_timeout', '0', false)")
            cursor.execute("SELECT pg_backend_pid()")
            self._backend_pid = cursor.fetchone()[0]
            for _ in wait_loop(wait, interrupted):
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
                if cursor.fetchone()[0]:
                    return
            raise LockNotAcquired(self.database, wait, self._holder(cursor))

    def _holder(self, cursor: Any) -> dict[str, Any]:
        classid, objid = _key_parts(self.key)
        cursor.execute(
            "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
            [classid, objid],
        )
        row = cursor.fetchone()
        if row is None:
            return {}
        backend_pid, app_name, client_addr, started = row
        holder: dict[str, Any] = {"connection": f"backend pid {backend_pid} from {client_addr or 'local socket'}"}
        if app_name and app_name.startswith("cicd{"):
            try:
                details = json.loads(app_name[4:])
            except ValueError:
                details = {}
            holder.update(host=details.get("h"), pid=details.get("p"), release=details.get("r"))
        holder["since"] = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else None
        return holder

    def _still_held(self) -> bool:
        with self._raw.cursor() as cursor:
            cursor.execute(_HOLDS, list(_key_parts(self.key)))
            return bool(cursor.fetchone()[0])

    def _same_session(self) -> bool:
        # A proxy that reconnected the lock's client behind our back would give another backend.
        with self._raw.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return bool(cursor.fetchone()[0] == self._backend_pid)

    def session(self) -> dict[str, Any]:
        return {"backend_pid": self._backend_pid}

    def _release(self) -> None:
        # Closing the session releases a session lock; nothing else needs undoing.
        self.wrapper.close()


class PostgreSQL(Vendor):
    name = "postgresql"

    def new_lock(self, alias: str, purpose: str, info: Mapping[str, Any], *, maintenance: bool) -> HeldLock:
        from django_cicd.locking import lock_name

        # maintenance: held from the "postgres" database, so that the target has no session of ours.
        wrapper = side_connection(alias, database_name="postgres" if maintenance else None)
        return PostgreSQLLock(alias, purpose, info, wrapper, advisory_key(lock_name(alias, purpose)))

    def timeout_statements(
        self, connection: BaseDatabaseWrapper, lock_timeout: float | None, statement_timeout: float | None
    ) -> tuple[list[tuple[str, list[Any]]], list[str]]:
        settings = [
            (name, f"{max(1, round(seconds * 1000))}ms")
            for name, seconds in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout))
            if seconds is not None
        ]
        return (
            [("SELECT set_config(%s, %s, false)", [name, value]) for name, value in settings],
            [f"RESET {name}" for name, _value in settings],
        )

    def session_id(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            pid, started = cursor.fetchone()
        return {"backend_pid": pid, "backend_start": started.isoformat() if started else None}

    def session_alive(self, connection: BaseDatabaseWrapper, session: Mapping[str, Any]) -> bool | None:
        pid = session.get("backend_pid")
        if not isinstance(pid, int):
            return None
        with connection.cursor() as cursor:
            cursor.execute("SELECT backend_start FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row is None:
            return False
        started = session.get("backend_start")
        return started is None or (row[0] is not None and row[0].isoformat() == started)

    def cancel_statement(self, connection: BaseDatabaseWrapper) -> None:
        raw = connection.connection
        if raw is not None:
            raw.cancel()  # psycopg's cancel is made to be called from another thread

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return getattr(driver_error(exc), "sqlstate", None) == LOCK_NOT_AVAILABLE

    # -- catalog -------------------------------------------------------------------------------------
    _CATALOG = {
        "relations": (
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(current_schemas(false)) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ),
        "columns": (
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum WHERE n.nspname = ANY(current_schemas(false)) AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        "constraints": (
            "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(current_schemas(false))"
        ),
        # Indexes that back a constraint (primary key, unique) go with the constraint.
        "indexes": (
            "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = ANY(current_schemas(false)) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid)"
        ),
        "views": (
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(current_schemas(false)) AND c.relkind IN ('v', 'm')"
        ),
        "triggers": (
            "SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid) FROM pg_trigger g JOIN pg_class c ON "
            "c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
            "ANY(current_schemas(false)) AND NOT g.tgisinternal"
        ),
    }
    _KINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "materialized_view", "S": "sequence"}

    def catalog(self, connection: BaseDatabaseWrapper) -> Catalog:
        objects: dict[CatalogObject, str] = {}
        with connection.cursor() as cursor:
            cursor.execute(self._CATALOG["relations"])
            for name, kind in cursor.fetchall():
                kind_name = self._KINDS[kind]
                objects[CatalogObject("view" if kind_name == "materialized_view" else kind_name, "", name)] = kind_name
            cursor.execute(self._CATALOG["views"])
            for name, definition in cursor.fetchall():
                objects[CatalogObject("view", "", name)] = (
                    f"{objects.get(CatalogObject('view', '', name))}:{definition}"
                )
            cursor.execute(self._CATALOG["columns"])
            for table, column, type_, not_null, default in cursor.fetchall():
                objects[CatalogObject("column", table, column)] = (
                    f"{type_} {'NOT NULL' if not_null else 'NULL'} {default or ''}".strip()
                )
            cursor.execute(self._CATALOG["constraints"])
            for table, name, contype, definition in cursor.fetchall():
                kind = "foreign_key" if contype == "f" else "constraint"
                objects[CatalogObject(kind, table, name)] = definition
            cursor.execute(self._CATALOG["indexes"])
            for table, name, definition in cursor.fetchall():
                objects[CatalogObject("index", table, name)] = definition
            cursor.execute(self._CATALOG["triggers"])
            for table, name, definition in cursor.fetchall():
                objects[CatalogObject("trigger", table, name)] = definition
        return Catalog(objects)

    def drop_statements(self, connection: BaseDatabaseWrapper, obj: CatalogObject, definition: str) -> list[str]:
        q = connection.ops.quote_name
        if obj.kind == "view":
            what = "MATERIALIZED VIEW" if definition.startswith("materialized_view") else "VIEW"
            return [f"DROP {what} IF EXISTS {q(obj.name)}"]
        if obj.kind == "table":
            return [f"DROP TABLE IF EXISTS {q(obj.name)}"]
        if obj.kind == "sequence":
            return [f"DROP SEQUENCE IF EXISTS {q(obj.name)}"]
        if obj.kind == "column":
            return [f"ALTER TABLE {q(obj.table)} DROP COLUMN IF EXISTS {q(obj.name)}"]
        if obj.kind in {"constraint", "foreign_key"}:
            return [f"ALTER TABLE {q(obj.table)} DROP CONSTRAINT IF EXISTS {q(obj.name)}"]
        if obj.kind == "index":
            return [f"DROP INDEX IF EXISTS {q(obj.name)}"]
        if obj.kind == "trigger":
            return [f"DROP TRIGGER IF EXISTS {q(obj.name)} ON {q(obj.table)}"]
        return []  # pragma: no cover (every kind is listed above)

    def table_sizes(self, connection: BaseDatabaseWrapper, tables: list[str]) -> dict[str, TableSize]:
        if not tables:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(current_schemas(false)) "
                "AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
                [list(tables)],
            )
            # reltuples is -1 for a table never vacuumed or analysed (PostgreSQL 14+): unknown.
            return {name: TableSize(rows if rows >= 0 else None, size) for name, rows, size in cursor.fetchall()}

    # -- the server --------------------------------------------------------------------------------------
    def server_version(self, connection: BaseDatabaseWrapper) -> tuple[int, ...] | None:
        connection.ensure_connection()
        return (connection.pg_version // 10000,)  # type: ignore[attr-defined]

    def server_description(self, connection: BaseDatabaseWrapper) -> str:
        connection.ensure_connection()
        number = connection.pg_version  # type: ignore[attr-defined]
        return f"PostgreSQL {number // 10000}.{number % 10000}"

    def describe_identity(self, identity: Mapping[str, str]) -> str:
        server = identity.get("system_identifier")
        return f"PostgreSQL database {identity.get('database', '')!r}" + (f" of cluster {server}" if server else "")

    def identity(self, connection: BaseDatabaseWrapper) -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            database = cursor.fetchone()[0]
            try:
                with connection.cursor() as inner:
                    inner.execute("SELECT system_identifier::text FROM pg_control_system()")
                    system = inner.fetchone()[0]
            except DatabaseError:  # a role without EXECUTE on pg_control_system()
                system = ""
        return {"vendor": "postgresql", "system_identifier": system, "database": database}

    def disconnect(self, connection: BaseDatabaseWrapper) -> None:
        # A pooled alias keeps its sessions (and the pool keeps the connection parameters it was made
        # with); contrib.postgres and PostGIS cache type OIDs per alias, and a restored copy has others.
        connection.close()
        if (connection.settings_dict.get("OPTIONS") or {}).get("pool"):
            connection.close_pool()  # type: ignore[attr-defined]
        if "django.contrib.postgres.signals" in sys.modules:
            from django.contrib.postgres import signals

            for cached in (signals.get_hstore_oids, signals.get_citext_oids):
                cast(Any, cached).cache_clear()  # functools.lru_cache
        for registry in getattr(type(connection), "_type_infos", {}).values():  # PostGIS
            registry.pop(connection.alias, None)

    # -- scratch databases ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _maintenance_cursor(self, alias: str) -> Iterator[Any]:
        wrapper = side_connection(alias, database_name="postgres")
        try:
            wrapper.ensure_connection()
            wrapper.set_autocommit(True)
            with wrapper.cursor() as cursor:
                yield cursor
        finally:
            wrapper.close()

    def create_scratch(self, alias: str, name: str, *, template: bool) -> str:
        from django.db import connections

        source = connections[alias]
        q = source.ops.quote_name
        with self._maintenance_cursor(alias) as cursor:
            if template:
                source.close()  # TEMPLATE needs the source to have no other session
                try:
                    cursor.execute(f"CREATE DATABASE {q(name)} TEMPLATE {q(source.settings_dict['NAME'])}")
                    return "CREATE DATABASE ... TEMPLATE"
                except DatabaseError:
                    pass  # someone else is connected to it: fall back to a restored backup
            cursor.execute(f"CREATE DATABASE {q(name)}")
        return ""

    def drop_scratch(self, alias: str, name: str) -> None:
        from django.db import connections

        with self._maintenance_cursor(alias) as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connections[alias].ops.quote_name(name)}")

    def list_scratch(self, alias: str) -> list[str]:
        from django.db import connections

        prefix = self.scratch_prefix(connections[alias])
        with self._maintenance_cursor(alias) as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix])
            return [row[0] for row in cursor.fetchall()]

    _LOCKS = (
        "SELECT DISTINCT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'p', 'v', 'm')"
    )

    def lock_observer(self, connection: BaseDatabaseWrapper, record: Callable[[str], None]) -> Any:
        def observe(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
            value = execute(sql, params, many, context)
            if connection.in_atomic_block:
                # A cursor of its own on the same connection (same transaction, same locks): the
                # migration's cursor may still have rows to fetch, which a query on it would replace.
                with connection.connection.cursor() as cursor:
                    cursor.execute(self._LOCKS)
                    for relname, mode in cursor.fetchall():
                        record(f"{mode} on {relname}")
            return value

        return observe
