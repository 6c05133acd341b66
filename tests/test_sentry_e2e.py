"""Sentry end to end: sentry-sdk's real HTTP transport posting gzip envelopes to a small HTTP server
on 127.0.0.1 (tests/sentry_server.py), with a DSN pointing at it."""

from __future__ import annotations

import json
import socket

import pytest

from django_cicd import hooks, sentry
from tests.sentry_server import PUBLIC_KEY, sentry_server
from tests.utils import run_cli

SECRET = "planted-db-password-1a2b3c4d5e6f7a8b"
STAGING = {
    "DJANGO_ENV": "staging",
    "SECRET_KEY": "staging-secret-key-" + "s" * 40,
    "ALLOWED_HOSTS": "staging.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


@pytest.fixture
def server():
    with sentry_server() as running:
        yield running


@pytest.fixture
def live_sentry(server, monkeypatch):
    """init_sentry() with the server's DSN and the default HTTP transport; the old client and setup restored after."""
    monkeypatch.setenv("DATABASE_PASSWORD", SECRET)
    with sentry._restoring(timeout=2):
        yield sentry.init_sentry(
            dsn=server.dsn,
            environment="staging",
            release="rel-2",
            default_integrations=False,
            auto_enabling_integrations=False,
        )


def test_safe_migrate_failure_reaches_sentry(server, live_sentry):
    try:
        raise RuntimeError(f"could not connect with password {SECRET}")
    except RuntimeError as exc:
        error = exc
    common = {"run_id": "run-42", "release": "rel-2", "environment": "staging", "database": "default"}
    hooks.send_safely(hooks.run_started, "safe_migrate", **common)
    hooks.send_safely(
        hooks.run_finished,
        "safe_migrate",
        **common,
        ok=False,
        exit_code=1,
        error=error,
        summary="migration catalog.0005 failed; the database was restored",
        details={},
    )
    # run_finished flushed before returning, as a command does before it exits.
    assert len(server.requests) == 3
    assert {r.headers["Content-Encoding"] for r in server.requests} == {"gzip"}
    assert {r.headers["X-Sentry-Auth"].split("sentry_key=")[1].split(",")[0] for r in server.requests} == {PUBLIC_KEY}
    started, finished = server.checkins()
    assert (started["monitor_slug"], started["status"], started["environment"]) == (
        "safe-migrate",
        "in_progress",
        "staging",
    )
    assert (finished["status"], finished["check_in_id"]) == ("error", started["check_in_id"])
    assert finished["duration"] >= 0
    [event] = server.events()
    assert (event["release"], event["environment"], event["level"]) == ("rel-2", "staging", "error")
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    assert event["exception"]["values"][0]["value"] == "could not connect with password ********"
    assert event["extra"]["summary"] == "migration catalog.0005 failed; the database was restored"
    assert SECRET.encode() not in server.all_bodies()


def test_rollback_failure_carries_both_releases(server, live_sentry):
    common = {"run_id": "rb-1", "release": "rel-1", "environment": "staging", "database": "default"}
    hooks.send_safely(hooks.run_started, "rollback_release", **common)
    hooks.send_safely(
        hooks.run_finished,
        "rollback_release",
        **common,
        ok=False,
        exit_code=1,
        error=None,
        summary="rollback refused: the code is older than the database",
        details={"from_release": "rel-2", "to_release": "rel-1"},
    )
    assert [c["status"] for c in server.checkins()] == ["in_progress", "error"]
    assert {c["monitor_slug"] for c in server.checkins()} == {"rollback-release"}
    [event] = server.events()
    assert event["message"] == "rollback refused: the code is older than the database" or (
        event["logentry"]["message"] == "rollback refused: the code is older than the database"
    )
    assert event["release"] == "rel-1"
    assert event["tags"]["cicd.from_release"] == "rel-2"
    assert event["tags"]["cicd.to_release"] == "rel-1"
    assert event["contexts"]["django-cicd"]["from_release"] == "rel-2"


def test_successful_run_is_an_ok_checkin_only(server, live_sentry):
    common = {"run_id": "ok-1", "release": "rel-2", "environment": "staging", "database": "default"}
    hooks.send_safely(hooks.run_started, "safe_migrate", **common)
    hooks.send_safely(
        hooks.run_finished, "safe_migrate", **common, ok=True, exit_code=0, error=None, summary="", details={}
    )
    assert [c["status"] for c in server.checkins()] == ["in_progress", "ok"]
    assert server.events() == []


def test_sentry_check_accepted(server):
    result = run_cli(
        "sentry_check",
        "--format",
        "json",
        env={"SENTRY_DSN": server.dsn, **STAGING, "GITHUB_SHA": "c0ffee"},
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "django-cicd/sentry_check"
    assert document["version"] == 1
    assert document["accepted"] is True
    assert document["envelopes"] == {"sent": 2, "accepted": 2}
    assert (document["environment"], document["environment_source"]) == ("staging", "stage")
    assert (document["release"], document["release_source"]) == ("c0ffee", "GITHUB_SHA")
    assert document["dsn_host"] == f"http://127.0.0.1:{server.port}/42"
    assert PUBLIC_KEY not in result.stdout + result.stderr
    [event] = server.events()
    message = event.get("message") or event["logentry"]["message"]
    assert message.startswith("django-cicd sentry_check: test event from ")
    assert (event["environment"], event["release"]) == ("staging", "c0ffee")
    [checkin] = server.checkins()
    assert (checkin["monitor_slug"], checkin["status"]) == ("django-cicd-sentry-check", "ok")


def test_sentry_check_refused(server):
    server.status = 403
    result = run_cli("sentry_check", env={"SENTRY_DSN": server.dsn, **STAGING})
    assert result.returncode == 1
    assert result.stderr == ""  # said once, as the report's last line
    assert result.stdout.strip().endswith(
        f"sentry_check: Sentry at http://127.0.0.1:{server.port}/42 refused the test envelopes (status_403); "
        "check that the DSN's key is active on the project's Client Keys page"
    )
    assert "0 of 2 accepted" in result.stdout


def test_sentry_check_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the command runs: nothing listens there
    result = run_cli(
        "sentry_check",
        "--timeout",
        "5",
        env={"SENTRY_DSN": f"http://{PUBLIC_KEY}@127.0.0.1:{port}/42", **STAGING},
    )
    assert result.returncode == 2
    assert result.stderr == ""
    assert result.stdout.strip().endswith(
        f"sentry_check: Sentry at http://127.0.0.1:{port}/42 could not be reached (network); check the DSN's host "
        "and that this machine may connect to it"
    )


def test_sentry_check_without_dsn():
    result = run_cli("sentry_check", env={"SENTRY_DSN": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "CommandError: Sentry is not set up: SENTRY_DSN is empty; set it (and call "
        "django_cicd.sentry.init_sentry() in the settings)."
    )


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_real_safe_migrate_failure_reaches_the_endpoint(server, live_sentry, settings):
    """Not the hooks called by hand: the command runs a migration that fails halfway, recovers, and the
    failure event and both check-ins arrive over HTTP before the command returns."""
    from tests.scenarios.migrate.helpers import scenario
    from tests.utils import run_command

    settings.CICD = {**settings.CICD, "ENVIRONMENT": "staging"}  # the stage the deploy job runs in
    with scenario("catalog_fails"):
        _, _, code = run_command("safe_migrate", "--release", "rel-bad", "--format", "json")
    assert code == 1
    started, finished = server.checkins()
    assert (started["monitor_slug"], started["status"]) == ("safe-migrate", "in_progress")
    assert (finished["status"], finished["check_in_id"]) == ("error", started["check_in_id"])
    [event] = server.events()
    assert event["environment"] == "staging"
    assert event["release"] == "rel-bad"
    assert "fails halfway on purpose" in json.dumps(event)
    assert SECRET.encode() not in server.all_bodies()


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_real_rollback_failure_reaches_the_endpoint(server, live_sentry, settings):
    """rollback_release itself, not the hooks by hand: a reversal that raises partway is an error
    check-in and an event naming the failing migration (the two deploys before it send check-ins
    only)."""
    from tests.scenarios.rollback.helpers import code, reset
    from tests.utils import run_command

    settings.CICD = {**settings.CICD, "ENVIRONMENT": "staging"}
    reset()
    try:
        for name, release in (("r1", {}), ("r2", {"catalog": "catalog_badreverse"})):
            with code(**release):
                _, stderr, exit_code = run_command("safe_migrate", "--release", name, "--format", "json")
            assert exit_code == 0, stderr
        with code(catalog="catalog_badreverse"):
            _, _, exit_code = run_command("rollback_release", "--noinput", "--format", "json")
        assert exit_code == 1
        started, finished = [c for c in server.checkins() if c["monitor_slug"] == "rollback-release"]
        assert started["status"] == "in_progress"
        assert (finished["status"], finished["check_in_id"]) == ("error", started["check_in_id"])
        [event] = server.events()
        assert event["environment"] == "staging"
        assert "this reverse fails on purpose" in json.dumps(event)
        assert SECRET.encode() not in server.all_bodies()
    finally:
        reset()
