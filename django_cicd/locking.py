"""The deploy lock: one migrator per database at a time, released when its holder dies, and held, not
assumed: the run asks the server whether the lock is still its own before every step.

Each vendor uses a lock that lives and dies with a session or a process (see :mod:`django_cicd.vendors`):

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``), held on a connection of its
  own, whose ``application_name`` tells waiters who holds it.
- MySQL and MariaDB: a named lock (``GET_LOCK``), held on a connection of its own.
- SQLite: an exclusive ``flock`` on a file next to the database file, holding the holder's details.

The lock's connection is separate from Django's because django-dbbackup closes the default connection
during a backup or restore, which would release a session lock. Its session is told not to time out
for being idle, and a heartbeat thread verifies the lock every ``CICD["LOCK_HEARTBEAT"]`` seconds
(which also keeps proxies from closing it); a lost lock is noticed there, before every migration and
before every migration's record in django_migrations, and before any statement of the run when
the last check is more than 50 ms old.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.db import connections

from django_cicd import vendors
from django_cicd.vendors import HeldLock, LockLost, LockNotAcquired, LockWaitInterrupted, describe_holder

__all__ = [
    "HeldLock",
    "LockLost",
    "LockNotAcquired",
    "LockWaitInterrupted",
    "deploy_lock",
    "describe_holder",
    "lock_name",
    "named_lock",
]


def lock_name(database: str, purpose: str = "deploy") -> str:
    """A stable name for the lock of one database: its server-side name, not the alias or the host, so
    that replicas reaching the same server under different host names still exclude each other."""
    return f"django-cicd:{purpose}:{connections[database].settings_dict.get('NAME')}"


def deploy_lock(
    database: str, *, wait: float, holder_info: Mapping[str, Any], interrupted: Callable[[], bool] | None = None
) -> contextlib.AbstractContextManager[HeldLock]:
    """Hold the deploy lock of ``database`` for the ``with`` block; yield the :class:`HeldLock`.

    ``holder_info`` (host, pid, release) is shown to processes that wait. Raises
    :class:`LockNotAcquired` after ``wait`` seconds, :class:`LockWaitInterrupted` when
    ``interrupted()`` turns true while waiting.
    """
    return named_lock(database, "deploy", wait=wait, holder_info=holder_info, interrupted=interrupted)


@contextlib.contextmanager
def named_lock(
    database: str,
    purpose: str,
    *,
    wait: float,
    holder_info: Mapping[str, Any],
    maintenance: bool = False,
    interrupted: Callable[[], bool] | None = None,
) -> Iterator[HeldLock]:
    """A lock like the deploy lock, for another ``purpose`` (rehearsals take ``"rehearsal"``).

    ``maintenance=True`` holds a PostgreSQL lock from the ``postgres`` database, so that the target
    database has no session of ours (``CREATE DATABASE ... TEMPLATE`` needs that).
    """
    import time

    info = {**holder_info, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lock = vendors.adapter_for(database).acquire_lock(
        database, purpose, wait=wait, info=info, maintenance=maintenance, interrupted=interrupted
    )
    try:
        yield lock
    finally:
        lock.release()
