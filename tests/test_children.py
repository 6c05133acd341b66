"""django_cicd.children: a signal ends a dump or restore client whatever the moment it arrives.

Two moments the run's signal handler could miss, both seen as a SIGTERM test hanging on a loaded
machine (tests/test_runs.py): the handler running while ``popen`` had started the client but not
yet remembered it, and the kernel handing the process's signal to another thread (the lock's
heartbeat) while the main thread sat in ``waitpid``, which that signal then never interrupts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from django_cicd import children


@pytest.fixture
def no_children_left():
    yield
    assert children.reap(grace=5) == []


def test_a_terminate_while_the_client_starts_still_ends_it(monkeypatch, no_children_left):
    real_popen = subprocess.Popen

    def starting(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        children.terminate([children.DUMP], grace=5)  # the signal handler, before popen() remembered it
        return process

    monkeypatch.setattr(children.subprocess, "Popen", starting)
    process = children.popen(["sleep", "600"], kind=children.DUMP)
    assert children.wait(process, timeout=30) == -signal.SIGTERM


def test_a_terminate_of_the_other_kind_leaves_a_starting_client_alone(monkeypatch, no_children_left):
    real_popen = subprocess.Popen

    def starting(*args, **kwargs):
        process = real_popen(*args, **kwargs)
        children.terminate([children.DUMP], grace=5)  # the first signal ends dumps, not restores
        return process

    monkeypatch.setattr(children.subprocess, "Popen", starting)
    process = children.popen(["sh", "-c", "exit 3"], kind=children.RESTORE)
    assert children.wait(process, timeout=30) == 3


SIGNAL_ON_ANOTHER_THREAD = textwrap.dedent(
    """
    import os, signal, threading
    from django_cicd import children

    signal.signal(signal.SIGTERM, lambda number, frame: children.terminate(grace=5))
    process = children.popen(["sleep", "600"], kind=children.DUMP)
    main = threading.get_native_id()

    def another_thread():
        # The handshake: the main thread waits for the child, blocked in the kernel (x86-64 syscall
        # numbers: wait4, waitid, or the sleeps and polls of a wait in slices; not futex, the GIL's).
        waiting.wait()
        while True:
            with open(f"/proc/self/task/{main}/syscall") as handle:
                if handle.read().split(" ", 1)[0] in {"61", "247", "230", "35", "23", "270", "7", "271"}:
                    break
        # The kernel may give a process's signal to any thread: here, to this one.
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    waiting = threading.Event()
    threading.Thread(target=another_thread, daemon=True).start()
    waiting.set()
    print("exit", children.wait(process), flush=True)
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc to see where a thread waits")
def test_a_signal_taken_by_another_thread_still_ends_the_wait(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_ON_ANOTHER_THREAD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that a hung run and its sleep can be ended together
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the main thread still waits for a client the signal should have ended")
    assert process.returncode == 0, stderr
    assert stdout.strip() == f"exit {-signal.SIGTERM}"
