"""The deploy lock: one migrator per database at a time, released when its holder dies.

Each vendor uses a lock that lives and dies with a session or a process, so a killed migrator never
leaves a stale lock behind:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``), held on a connection of its
  own. The holder writes who it is into that session's ``application_name``, which waiters read
  from ``pg_stat_activity``.
- MySQL and MariaDB: a named lock (``GET_LOCK``), held on a connection of its own. Waiters find the
  holder's connection through ``IS_USED_LOCK`` and the processlist.
- SQLite: an exclusive ``flock`` on a file next to the database file, holding the holder's details.

The lock connection is separate from Django's connection because django-dbbackup closes the
default connection during a backup or restore, which would release a session lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

#: How often a waiter asks again (seconds).
POLL_INTERVAL = 0.2


class LockNotAcquired(Exception):
    """Another process held the deploy lock for longer than the wait."""

    def __init__(self, database: str, wait: float, holder: Mapping[str, Any]) -> None:
        self.database = database
        self.wait = wait
        self.holder = dict(holder)
        super().__init__(
            f"the deploy lock on database {database!r} is held by {describe_holder(holder)}; "
            f"gave up after waiting {wait:g} seconds; let that run finish (or stop it) and run again, "
            "or wait longer with --lock-wait"
        )


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


def lock_name(database: str, purpose: str = "deploy") -> str:
    """A stable name for the lock of one database: its server-side name, not the alias or the host, so
    that replicas reaching the same server under different host names still exclude each other."""
    return f"django-cicd:{purpose}:{connections[database].settings_dict.get('NAME')}"


def _advisory_key(name: str) -> int:
    # PostgreSQL advisory locks take a signed 64-bit key.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _mysql_lock_name(name: str) -> str:
    # GET_LOCK names are limited to 64 characters.
    return "django-cicd:" + hashlib.sha256(name.encode()).hexdigest()[:40]


def deploy_lock(
    database: str, *, wait: float, holder_info: Mapping[str, Any]
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """Hold the deploy lock of ``database`` for the ``with`` block; yield the holder details.

    ``holder_info`` (host, pid, release) is shown to processes that wait. Raises
    :class:`LockNotAcquired` after ``wait`` seconds.
    """
    return named_lock(database, "deploy", wait=wait, holder_info=holder_info)


@contextlib.contextmanager
def named_lock(
    database: str, purpose: str, *, wait: float, holder_info: Mapping[str, Any], maintenance: bool = False
) -> Iterator[dict[str, Any]]:
    """A lock like the deploy lock, for another ``purpose`` (rehearsals take ``"rehearsal"``).

    ``maintenance=True`` holds a PostgreSQL lock from the ``postgres`` database, so that the target
    database has no session of ours (``CREATE DATABASE ... TEMPLATE`` needs that).
    """
    connection = connections[database]
    info = {**holder_info, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if connection.vendor == "sqlite":
        with _file_lock(connection, wait, info, purpose):
            yield info
        return
    lock_connection = connection.copy(alias=f"{database}__cicd_lock")
    if maintenance and connection.vendor == "postgresql":
        lock_connection.settings_dict["NAME"] = "postgres"
    name = lock_name(database, purpose)
    try:
        if connection.vendor == "postgresql":
            _postgresql_acquire(lock_connection, database, name, wait, info)
        elif connection.vendor == "mysql":
            _mysql_acquire(lock_connection, database, name, wait, info)
        else:
            raise NotImplementedError(f"no deploy lock for the {connection.vendor} database backend")
        yield info
    finally:
        # Closing the session releases a session lock; nothing else needs undoing.
        lock_connection.close()


def _deadline_loop(wait: float) -> Iterator[None]:
    deadline = time.monotonic() + wait
    while True:
        yield
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(POLL_INTERVAL, remaining))


def _application_name(info: Mapping[str, Any]) -> str:
    # pg_stat_activity.application_name keeps 63 bytes: compact JSON, the release shortened first.
    compact = {"h": str(info.get("host", ""))[:24], "p": info.get("pid"), "r": str(info.get("release", ""))[:12]}
    return ("cicd" + json.dumps(compact, separators=(",", ":")))[:63]


def _postgresql_acquire(
    lock: BaseDatabaseWrapper, database: str, name: str, wait: float, info: Mapping[str, Any]
) -> None:
    key = _advisory_key(name)
    with lock.cursor() as cursor:
        cursor.execute("SELECT set_config('application_name', %s, false)", [_application_name(info)])
        for _ in _deadline_loop(wait):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                return
        raise LockNotAcquired(database, wait, _postgresql_holder(cursor, key))


def _postgresql_holder(cursor: Any, key: int) -> dict[str, Any]:
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    cursor.execute(
        "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
        [classid, objid],
    )
    row = cursor.fetchone()
    if row is None:
        return {}
    backend_pid, application_name, client_addr, started = row
    holder: dict[str, Any] = {"connection": f"backend pid {backend_pid} from {client_addr or 'local socket'}"}
    if application_name and application_name.startswith("cicd{"):
        try:
            details = json.loads(application_name[4:])
        except ValueError:
            details = {}
        holder.update(host=details.get("h"), pid=details.get("p"), release=details.get("r"))
    holder["since"] = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else None
    return holder


def _mysql_acquire(lock: BaseDatabaseWrapper, database: str, name: str, wait: float, info: Mapping[str, Any]) -> None:
    name = _mysql_lock_name(name)
    with lock.cursor() as cursor:
        for _ in _deadline_loop(wait):
            cursor.execute("SELECT GET_LOCK(%s, 0)", [name])
            if cursor.fetchone()[0] == 1:
                return
        cursor.execute("SELECT IS_USED_LOCK(%s)", [name])
        holder_id = cursor.fetchone()[0]
        holder: dict[str, Any] = {}
        if holder_id is not None:
            cursor.execute("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = %s", [holder_id])
            row = cursor.fetchone()
            holder["connection"] = f"connection id {holder_id} from {row[0] if row else 'unknown host'}"
        raise LockNotAcquired(database, wait, holder)


def lock_file_path(connection: BaseDatabaseWrapper, purpose: str = "deploy") -> str:
    suffix = "" if purpose == "deploy" else f"-{purpose}"
    return f"{connection.settings_dict['NAME']}.cicd-lock{suffix}"


@contextlib.contextmanager
def _file_lock(connection: BaseDatabaseWrapper, wait: float, info: Mapping[str, Any], purpose: str) -> Iterator[None]:
    path = lock_file_path(connection, purpose)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        for _ in _deadline_loop(wait):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                continue
        else:
            raise LockNotAcquired(connection.alias, wait, _read_holder(path))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(dict(info)).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock, as the kernel does when we die


def _read_holder(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
