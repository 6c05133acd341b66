"""What every database vendor adapter answers, and the parts they share.

An adapter is the only place that knows a vendor's SQL: the deploy lock and its liveness, session
timeouts, the catalog snapshot and dropping what a failed step created, scratch databases, the
server's version and identity, and how to tell a lock timeout from other errors. Everything else in
django-cicd asks :func:`django_cicd.vendors.adapter` and never compares ``connection.vendor``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import DatabaseError, connections
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper

from django_cicd import events

#: How often a waiter asks for the lock again (seconds).
POLL_INTERVAL = 0.2


class LockNotAcquired(Exception):
    """Another process held the lock for longer than the wait."""

    def __init__(self, database: str, wait: float, holder: Mapping[str, Any]) -> None:
        self.database = database
        self.wait = wait
        self.holder = dict(holder)
        super().__init__(
            f"the deploy lock on database {database!r} is held by {describe_holder(holder)}; "
            f"gave up after waiting {wait:g} seconds; let that run finish (or stop it) and run again, "
            "or wait longer with --lock-wait"
        )


class LockWaitInterrupted(Exception):
    """A signal arrived while waiting for the lock: nothing was done."""


class LockLost(Exception):
    """The lock's session died or no longer holds the lock: another run may hold it now."""


def describe_holder(holder: Mapping[str, Any]) -> str:
    parts = []
    if holder.get("host"):
        parts.append(f"host {holder['host']}")
    if holder.get("pid"):
        parts.append(f"pid {holder['pid']}")
    if holder.get("release"):
        parts.append(f"release {holder['release']}")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    if not parts and holder.get("connection"):
        parts.append(f"database connection {holder['connection']}")
    return ", ".join(parts) if parts else "another process (no details known)"


def side_connection(alias: str, *, database_name: str | None = None) -> BaseDatabaseWrapper:
    """A connection of our own to the server of ``alias`` (the lock's, CREATE DATABASE's).

    It is made under Django's ``NO_DB_ALIAS``, as Django's own ``_nodb_cursor`` connections are:
    ``connection_created`` receivers that look the alias up in ``connections`` (contrib.postgres)
    skip it, and Django never hands it to a connection pool, whose ``close()`` would keep the
    session, and with it a session lock, alive.
    """
    source = connections[alias]
    settings_dict = {**source.settings_dict, "OPTIONS": dict(source.settings_dict.get("OPTIONS") or {})}
    settings_dict["OPTIONS"].pop("pool", None)
    if database_name is not None:
        settings_dict["NAME"] = database_name
    return type(source)(settings_dict, alias=NO_DB_ALIAS)


def wait_loop(wait: float, interrupted: Callable[[], bool] | None = None) -> Iterator[None]:
    """Yield at once, then every POLL_INTERVAL until ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    tries = 0
    while True:
        if interrupted is not None and interrupted():
            raise LockWaitInterrupted("a signal arrived while waiting for the deploy lock; nothing was done")
        yield
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        tries += 1
        if tries == 1:  # the first try found the lock taken
            events.emit("lock.waiting", wait_seconds=wait)
        time.sleep(min(POLL_INTERVAL, remaining))


class HeldLock:
    """A lock that is held, not assumed: :meth:`verify` asks the server whether it is still ours.

    A heartbeat thread (:meth:`start_heartbeat`) verifies it every few seconds, which also keeps
    the session from looking idle to proxies; once it is lost, :attr:`lost` says why and stays set.
    All use of the lock's session goes through one mutex, so the heartbeat and the run never talk
    on it at the same time.
    """

    def __init__(self, database: str, purpose: str, info: Mapping[str, Any]) -> None:
        self.database = database
        self.purpose = purpose
        self.info = dict(info)
        self.lost: str | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks = 0
        self.check_seconds = 0.0
        self.heartbeats = 0

    # -- implemented by each vendor ------------------------------------------------------------
    def acquire(self, wait: float, interrupted: Callable[[], bool] | None) -> None:  # pragma: no cover (abstract)
        raise NotImplementedError

    def _still_held(self) -> bool:  # pragma: no cover (abstract)
        raise NotImplementedError

    def _same_session(self) -> bool:
        """A cheaper answer for statement-by-statement checks: the lock's session is still the one that
        took the lock (a session lock can only be released by its own session or its end)."""
        return self._still_held()

    def _release(self) -> None:  # pragma: no cover (abstract)
        raise NotImplementedError

    def session(self) -> dict[str, Any]:
        """What identifies the lock's session on the server (shown when it is lost)."""
        return {}

    # -- shared ------------------------------------------------------------------------------------
    def verify(self, *, thorough: bool = True, heartbeat: bool = False) -> bool:
        """True when the lock is still ours; once False, it stays False (with :attr:`lost`).

        ``thorough`` asks the server's lock table; otherwise the session's identity is enough (see
        :meth:`_same_session`). The run's own checks are counted in :attr:`checks` and
        :attr:`check_seconds`, the heartbeat's in :attr:`heartbeats`."""
        started = time.perf_counter()
        with self._mutex:
            if self.lost is not None:
                return False
            try:
                held = self._still_held() if thorough else self._same_session()
                reason = "" if held else "its session no longer holds the lock"
            except Exception as exc:  # noqa: BLE001 (a dead session raises whatever its driver raises)
                held = False
                reason = f"its session is gone ({type(exc).__name__}: {first_line(exc)})"
            if heartbeat:
                self.heartbeats += 1
            else:
                self.checks += 1
                self.check_seconds += time.perf_counter() - started
            if not held:
                self.lost = f"the deploy lock on database {self.database!r} was lost: {reason}"
        if not held and reason:
            events.emit("lock.lost", logging.WARNING, purpose=self.purpose, reason=self.lost)
        return held

    def check(self, *, thorough: bool = True) -> None:
        """Raise :class:`LockLost` unless the lock is verified to be ours now."""
        if not self.verify(thorough=thorough):
            raise LockLost(self.lost)

    def start_heartbeat(self, interval: float, on_lost: Callable[[], None] | None = None) -> None:
        if interval <= 0 or not math.isfinite(interval):
            return

        def beat() -> None:
            while not self._stop.wait(interval):
                if not self.verify(heartbeat=True):
                    if on_lost is not None:
                        with contextlib.suppress(Exception):
                            on_lost()
                    return

        # In the run's context, so that a lost lock's event names the run.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(beat,),
            name=f"django-cicd lock heartbeat {self.database}",
            daemon=True,
        )
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._mutex, contextlib.suppress(Exception):
            self._release()


# --- the catalog ------------------------------------------------------------------------------------

#: The kinds of catalog objects, in the order a drop must go (what depends on others first).
DROP_ORDER = ("trigger", "view", "foreign_key", "index", "constraint", "column", "table", "sequence")


@dataclass(frozen=True, order=True)
class CatalogObject:
    kind: str  # table, column, index, constraint, foreign_key, view, sequence, trigger
    table: str  # the table it belongs to ("" for tables, views, sequences)
    name: str

    @property
    def label(self) -> str:
        if self.kind == "column":
            return f'column "{self.table}"."{self.name}"'
        if self.table:
            return f'{self.kind.replace("_", " ")} {self.name} on "{self.table}"'
        return f'{self.kind} "{self.name}"'


@dataclass
class CatalogDiff:
    added: list[CatalogObject] = field(default_factory=list)
    removed: list[CatalogObject] = field(default_factory=list)
    changed: list[CatalogObject] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def describe(self, limit: int = 8) -> str:
        parts = []
        for title, items in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if items:
                names = ", ".join(o.label for o in items[:limit]) + (" ..." if len(items) > limit else "")
                parts.append(f"{title}: {names}")
        return "; ".join(parts) or "no difference"


@dataclass
class Catalog:
    """What the schema holds, as ``{object: definition}``: tables, columns, indexes, constraints,
    views (and sequences and triggers where the vendor has them). JSON-friendly, for the ledger."""

    objects: dict[CatalogObject, str] = field(default_factory=dict)

    def diff(self, later: Catalog) -> CatalogDiff:
        """What changed from this snapshot to ``later``."""
        before, after = self.objects, later.objects
        return CatalogDiff(
            added=sorted(o for o in after if o not in before),
            removed=sorted(o for o in before if o not in after),
            changed=sorted(o for o in after if o in before and before[o] != after[o]),
        )

    def as_json(self) -> list[list[str]]:
        return [[o.kind, o.table, o.name, definition] for o, definition in sorted(self.objects.items())]

    @classmethod
    def from_json(cls, value: Any) -> Catalog | None:
        if not isinstance(value, list):
            return None
        objects: dict[CatalogObject, str] = {}
        for item in value:
            if not (isinstance(item, list) and len(item) == 4 and all(isinstance(v, str) for v in item)):
                return None
            objects[CatalogObject(item[0], item[1], item[2])] = item[3]
        return cls(objects)

    def without_tables(self, tables: set[str]) -> Catalog:
        return Catalog(
            {
                o: d
                for o, d in self.objects.items()
                if o.table not in tables and not (o.kind == "table" and o.name in tables)
            }
        )


@dataclass(frozen=True)
class TableSize:
    rows: int | None  # estimated on PostgreSQL and MariaDB (their statistics), exact on SQLite
    bytes: int | None


class Vendor:
    """The base adapter; one subclass per Django database vendor."""

    name: ClassVar[str] = ""
    #: Tables the catalog comparison leaves out: Django's migration records and our ledger, which
    #: the run itself writes.
    BOOKKEEPING_TABLES: ClassVar[frozenset[str]] = frozenset({"django_migrations", "django_cicd_release"})

    # -- lock ----------------------------------------------------------------------------------------
    def new_lock(self, alias: str, purpose: str, info: Mapping[str, Any], *, maintenance: bool) -> HeldLock:
        raise NotImplementedError  # pragma: no cover (abstract)

    def acquire_lock(
        self,
        alias: str,
        purpose: str,
        *,
        wait: float,
        info: Mapping[str, Any],
        maintenance: bool = False,
        interrupted: Callable[[], bool] | None = None,
    ) -> HeldLock:
        """The lock ``purpose`` of ``alias``, held; :class:`LockNotAcquired` after ``wait`` seconds.

        ``maintenance=True`` takes it without a session on the target database where the vendor
        needs that (PostgreSQL: ``CREATE DATABASE ... TEMPLATE``)."""
        lock = self.new_lock(alias, purpose, info, maintenance=maintenance)
        try:
            lock.acquire(wait, interrupted)
        except BaseException:
            lock.release()
            raise
        return lock

    # -- the migrating session -------------------------------------------------------------------
    def timeout_statements(
        self, connection: BaseDatabaseWrapper, lock_timeout: float | None, statement_timeout: float | None
    ) -> tuple[list[tuple[str, list[Any]]], list[str]]:
        """The statements that set the session's timeouts, and those that reset them."""
        return [], []

    @contextlib.contextmanager
    def session_timeouts(
        self, connection: BaseDatabaseWrapper, lock_timeout: float | None, statement_timeout: float | None
    ) -> Iterator[None]:
        """The lock and statement timeouts on ``connection``'s session for the block."""
        statements, resets = self.timeout_statements(connection, lock_timeout, statement_timeout)
        if statements:
            with connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
        try:
            yield
        finally:
            if resets and connection.connection is not None:
                with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                    for sql in resets:
                        cursor.execute(sql)

    def session_id(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        """What identifies ``connection``'s session on the server, to ask later whether it is alive."""
        return {}

    def session_alive(self, connection: BaseDatabaseWrapper, session: Mapping[str, Any]) -> bool | None:
        """Whether the session ``session`` (from :meth:`session_id`) is still connected; None: unknown."""
        return None

    def cancel_statement(self, connection: BaseDatabaseWrapper) -> None:
        """Cancel what ``connection`` runs now, from another thread (the lock was lost)."""

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return False

    # -- catalog -----------------------------------------------------------------------------------
    def catalog(self, connection: BaseDatabaseWrapper) -> Catalog:  # pragma: no cover (abstract)
        raise NotImplementedError

    def drop_statements(self, connection: BaseDatabaseWrapper, obj: CatalogObject, definition: str) -> list[str]:
        raise NotImplementedError  # pragma: no cover (abstract)

    def drop_objects(self, connection: BaseDatabaseWrapper, later: Catalog, objects: list[CatalogObject]) -> list[str]:
        """Drop ``objects`` (new in ``later``), in dependency order; return the statements run.

        Columns and indexes of a table that is dropped go with it.
        """
        tables = {o.name for o in objects if o.kind == "table"}
        ordered = sorted(
            (o for o in objects if o.kind == "table" or o.table not in tables),
            key=lambda o: (DROP_ORDER.index(o.kind) if o.kind in DROP_ORDER else len(DROP_ORDER), o),
        )
        statements: list[str] = []
        with connection.cursor() as cursor:
            for obj in ordered:
                for sql in self.drop_statements(connection, obj, later.objects.get(obj, "")):
                    cursor.execute(sql)
                    statements.append(sql)
        return statements

    def table_sizes(self, connection: BaseDatabaseWrapper, tables: list[str]) -> dict[str, TableSize]:
        """Rows and bytes of each of ``tables`` that exists (the others are left out)."""
        return {}  # pragma: no cover (every vendor overrides it)

    # -- the server --------------------------------------------------------------------------------
    def server_version(self, connection: BaseDatabaseWrapper) -> tuple[int, ...] | None:
        """In the shape a dump client's version is compared with: (major,) or (major, minor)."""
        return None

    def server_description(self, connection: BaseDatabaseWrapper) -> str:
        return f"{connection.vendor} (version unknown)"  # pragma: no cover

    def identity(self, connection: BaseDatabaseWrapper) -> dict[str, str]:
        """What tells this database apart from every other one (for backups): server and database."""
        raise NotImplementedError  # pragma: no cover (abstract)

    def describe_identity(self, identity: Mapping[str, str]) -> str:
        """:meth:`identity`'s result in words."""
        raise NotImplementedError  # pragma: no cover (abstract)

    # -- scratch databases (rehearsal, --verify-restore) ---------------------------------------------
    def scratch_name(self, connection: BaseDatabaseWrapper, token: str) -> str:
        return f"{str(connection.settings_dict['NAME'])[:40]}{SCRATCH_MARK}{token}"

    def scratch_prefix(self, connection: BaseDatabaseWrapper) -> str:
        return f"{str(connection.settings_dict['NAME'])[:40]}{SCRATCH_MARK}"

    def create_scratch(self, alias: str, name: str, *, template: bool) -> str:
        """Create the empty (or, ``template=True`` where possible, copied) scratch database ``name``;
        return how it was made ("" for an empty one)."""
        raise NotImplementedError  # pragma: no cover (abstract)

    def drop_scratch(self, alias: str, name: str) -> None:
        raise NotImplementedError  # pragma: no cover (abstract)

    def list_scratch(self, alias: str) -> list[str]:
        raise NotImplementedError  # pragma: no cover (abstract)

    def disconnect(self, connection: BaseDatabaseWrapper) -> None:
        """Close ``connection`` and forget what the backend keeps per alias about the database it reached,
        before the alias is pointed at another database (a rehearsal's repointing) and after."""
        connection.close()

    def same_database(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        """Whether two settings dicts reach the same database (for a rehearsal's repointing)."""
        return (
            str(a.get("NAME")) == str(b.get("NAME"))
            and str(a.get("HOST") or "") == str(b.get("HOST") or "")
            and str(a.get("PORT") or "") == str(b.get("PORT") or "")
        )

    def lock_observer(self, connection: BaseDatabaseWrapper, record: Callable[[str], None]) -> Any:
        """A ``connection.execute_wrapper`` that reports the table locks each statement holds; None where
        the vendor cannot tell."""
        return None


SCRATCH_MARK = "_cicd_scratch_"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception behind Django's wrapper (``DatabaseError.__cause__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, DatabaseError) or current.__cause__ is None:
            return current
        current = current.__cause__
    return exc
