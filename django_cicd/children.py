"""The child processes of a run (dump and restore clients), tracked so that none outlives the command.

Whatever starts a dump or restore client goes through :func:`popen` (our django-dbbackup connectors
do); a signal handler can then :func:`terminate` them, and :func:`reap` makes sure every one has
exited before the command does.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterable
from typing import Any

#: What a child does: "dump" only reads the database, "restore" writes it.
DUMP = "dump"
RESTORE = "restore"

#: Re-entrant: a signal handler (which calls :func:`terminate`) may run in the main thread while that
#: thread holds it.
_mutex = threading.RLock()
_running: dict[subprocess.Popen[Any], str] = {}
#: How many times :func:`terminate` was asked to end each kind: a client whose start a termination
#: overlapped (the handler ran after the fork, before the client was remembered) is ended at once.
_terminations: dict[str, int] = {}
#: How long one wait for a child lasts before the main thread looks for a signal again. A process's
#: signal may be handed to any of its threads; then it does not interrupt the main thread's waitpid,
#: and the handler runs only once that thread executes Python code again.
WAIT_SLICE = 0.2


def popen(args: list[str], *, kind: str, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``, remembered until it exits."""
    terminations = _terminations.get(kind, 0)
    process: subprocess.Popen[Any] = subprocess.Popen(args, **kwargs)
    with _mutex:
        _running[process] = kind
    if _terminations.get(kind, 0) != terminations:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    return process


def wait(process: subprocess.Popen[Any], timeout: float | None = None) -> int:
    """Wait for ``process`` and forget it; in slices of :data:`WAIT_SLICE`, so that a signal taken by
    another thread is handled while the child runs (its handler may be what ends the child)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
            try:
                return process.wait(max(left, 0))
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    finally:
        if process.returncode is not None:
            with _mutex:
                _running.pop(process, None)


def running(kinds: Iterable[str] = (DUMP, RESTORE)) -> list[subprocess.Popen[Any]]:
    wanted = set(kinds)
    with _mutex:
        return [p for p, kind in _running.items() if kind in wanted and p.poll() is None]


def terminate(kinds: Iterable[str] = (DUMP, RESTORE), *, grace: float = 10.0) -> list[int]:
    """Send SIGTERM to the running children of ``kinds``; SIGKILL those still running after ``grace``
    seconds (from a timer thread, so that a signal handler never blocks). Returns their pids."""
    kinds = tuple(kinds)
    with _mutex:
        for kind in kinds:
            _terminations[kind] = _terminations.get(kind, 0) + 1
    processes = running(kinds)
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    if processes:

        def escalate() -> None:
            for process in processes:
                with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                    process.wait(grace)
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()

        threading.Thread(target=escalate, name="django-cicd child reaper", daemon=True).start()
    return [p.pid for p in processes]


def reap(grace: float = 10.0) -> list[int]:
    """Make sure no child is left: terminate what still runs, kill it after ``grace``, wait for all.
    Returns the pids that had to be ended."""
    with _mutex:
        processes = list(_running)
    ended = []
    for process in processes:
        if process.poll() is None:
            ended.append(process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with _mutex:
            _running.pop(process, None)
    return ended
