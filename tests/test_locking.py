"""The deploy lock: exclusive per database, with who holds it, released when its holder goes."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connections

from django_cicd import locking
from tests.scenarios.migrate.helpers import run_manage

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

HOLDER = {"host": "build-7", "pid": 4242, "release": "abc123"}


def test_a_second_taker_gives_up_and_names_the_holder():
    other = {"host": "x", "pid": 1, "release": "y"}
    with locking.deploy_lock("default", wait=5, holder_info=HOLDER), pytest.raises(locking.LockNotAcquired) as caught:  # noqa: SIM117
        with locking.deploy_lock("default", wait=0.5, holder_info=other):
            pass
    message = str(caught.value)
    assert message.startswith("the deploy lock on database 'default' is held by ")
    assert message.endswith(
        "gave up after waiting 0.5 seconds; let that run finish (or stop it) and run again, "
        "or wait longer with --lock-wait"
    )
    if connections["default"].vendor != "mysql":  # MySQL only knows the holder's connection
        assert "host build-7, pid 4242, release abc123" in message
    else:
        assert "connection id" in message


def test_the_lock_is_per_database():
    # The assertion is the second lock itself: with wait=0 it raises LockNotAcquired if the two
    # aliases shared one lock (test_a_second_taker_gives_up_and_names_the_holder shows that it would).
    with (
        locking.deploy_lock("default", wait=1, holder_info=HOLDER),
        locking.deploy_lock("other", wait=0, holder_info=HOLDER),
    ):
        pass


def test_released_after_the_block_even_on_error():
    with pytest.raises(RuntimeError), locking.deploy_lock("default", wait=1, holder_info=HOLDER):
        raise RuntimeError("boom")
    with locking.deploy_lock("default", wait=0, holder_info=HOLDER):
        pass


def test_survives_django_closing_its_connection():
    """django-dbbackup closes the default connection; the lock must hold on its own connection."""
    with locking.deploy_lock("default", wait=1, holder_info=HOLDER):
        connections["default"].close()
        with pytest.raises(locking.LockNotAcquired), locking.deploy_lock("default", wait=0, holder_info=HOLDER):
            pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    """A process holding the lock is SIGKILLed: the lock is free at once."""
    marker = tmp_path / "marker"
    process = run_manage(
        "safe_migrate",
        "--no-backup",
        env={"CICD_TEST_CATALOG": "catalog_slow", "CICD_TEST_MARKER": str(marker), "CICD_TEST_SLEEP": "60"},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), process.communicate()[1]
        with pytest.raises(locking.LockNotAcquired), locking.deploy_lock("default", wait=0, holder_info=HOLDER):
            pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    with locking.deploy_lock("default", wait=5, holder_info=HOLDER):
        pass
    _undo_slow_scenario()


def _undo_slow_scenario():
    from tests.scenarios.migrate.helpers import scenario

    with scenario("catalog_slow"):
        pass
