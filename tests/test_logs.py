"""The commands' events for log aggregators (django_cicd.events, ``--log-format json``) and the
application's container logging (django_cicd.logs), on the real database of the run.

The deploy, the failed deploy and the rollback run ``manage.py`` in a subprocess, as CI does; every line
of their stderr must be one JSON object, and no line may hold a secret."""

from __future__ import annotations

import json
import logging
import logging.config
import signal
import time
from io import StringIO

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import load_command_class
from django.db import connections
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from django.utils.log import configure_logging

from django_cicd import locking
from django_cicd.logs import container_logging
from tests.scenarios.migrate.helpers import database_url, drop_tables, run_manage
from tests.scenarios.rollback.helpers import reset
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

PLANTED_TOKEN = "planted-deploy-token-7f3e9a1b"
PLANTED_DB_PASSWORD = "planted-db-password-c41d2e"
LEAKS = "tests.scenarios.logs.catalog_leaks"
#: What every event of a run carries (command.* events carry the first two, and host and pid).
RUN_CONTEXT = ("command", "run_id", "release", "environment", "database", "host", "pid")


@pytest.fixture(autouse=True)
def _clean_database():
    reset()
    drop_tables("default", "catalog_warehouse")
    yield
    reset()
    drop_tables("default", "catalog_warehouse")


def _database_url() -> str:
    url = database_url()
    if connections["default"].vendor == "postgresql" and "@" in url:
        # Trust authentication ignores the password: a secret that must not reach any line.
        user, rest = url.split("@", 1)
        url = f"{user}:{PLANTED_DB_PASSWORD}@{rest}" if ":" not in user.split("//", 1)[1] else url
    return url


def _secrets() -> list[str]:
    return [PLANTED_TOKEN, PLANTED_DB_PASSWORD, settings.SECRET_KEY]


def _manage(*args: str, catalog: str | None = None, log_format: str | None = "json"):
    env = {"DEPLOY_API_TOKEN": PLANTED_TOKEN, "DATABASE_URL": _database_url()}
    if catalog:
        env["CICD_TEST_CATALOG"] = catalog
    extra = ("--log-format", log_format) if log_format else ()
    process = run_manage(*args, *extra, env=env)
    stdout, stderr = process.communicate(timeout=300)
    for secret in _secrets():
        assert secret not in stdout + stderr
    return process.returncode, stdout, stderr


def _events(stderr: str) -> list[dict]:
    events = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a line of stderr is not JSON: {line!r}\n{stderr}")
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message", "event"} <= set(record), line
        events.append(record)
    return events


def _names(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


def _one(events: list[dict], name: str) -> dict:
    found = [e for e in events if e["event"] == name]
    assert len(found) == 1, _names(events)
    return found[0]


def _check_context(events: list[dict], release: str) -> None:
    run_id = events[0]["run_id"]
    for event in events:
        assert event["run_id"] == run_id
        assert event["command"] == events[0]["command"]
        assert event["host"] and event["pid"]
        if event["event"] not in {"command.started", "command.finished"}:
            # A rollback knows its release (the target) once it has planned, under the lock.
            assert event.get("release", release) == release and event["database"] == "default", event
            assert "environment" in event, event


def test_a_deploy_tells_its_story_in_json_lines():
    code, stdout, stderr = _manage("safe_migrate", "--release", "r2", catalog="catalog_next")
    assert code == 0, stdout + stderr
    events = _events(stderr)
    assert _names(events) == [
        "command.started",
        "run.started",
        "lock.acquired",
        "backup.taken",
        "migration.applied",
        "migration.applied",
        "run.finished",
        "command.finished",
    ]
    _check_context(events, "r2")
    backup = _one(events, "backup.taken")
    assert backup["backup"] in stdout
    assert backup["size"] > 0 and len(backup["sha256"]) == 64 and backup["seconds"] >= 0
    applied = [e for e in events if e["event"] == "migration.applied"]
    assert [e["migration"] for e in applied] == ["catalog.0006_review", "catalog.0007_product_stock"]
    assert all(e["seconds"] >= 0 and e["lock_checks"] >= 1 and e["backwards"] is False for e in applied)
    finished = _one(events, "run.finished")
    assert finished["status"] == "applied" and finished["exit_code"] == 0 and finished["level"] == "INFO"
    assert finished["ledger_id"] and finished["environment"] == "development"
    assert _one(events, "command.finished")["exit_code"] == 0
    # The report on stdout is the text report of every day.
    assert "safe_migrate" in stdout and not stdout.lstrip().startswith("{")


def test_with_a_json_report_stdout_is_the_report_and_stderr_only_json_lines():
    """--format json sends the progress lines to stderr; with --log-format json the events take their place."""
    code, stdout, stderr = _manage("safe_migrate", "--release", "r2", "--format", "json", catalog="catalog_next")
    assert code == 0, stdout + stderr
    assert json.loads(stdout)["status"] == "applied"
    assert _names(_events(stderr)).count("migration.applied") == 2


def test_a_failed_deploy_tells_the_failure_and_the_recovery_without_secrets():
    code, stdout, stderr = _manage("safe_migrate", "--release", "r2", catalog=LEAKS)
    assert code == 1, stdout + stderr
    events = _events(stderr)
    assert _names(events) == [
        "command.started",
        "run.started",
        "lock.acquired",
        "backup.taken",
        "migration.applied",
        "migration.failed",
        "recovery.started",
        "migration.undone",
        "recovery.finished",
        "run.finished",
        "command.finished",
    ]
    _check_context(events, "r2")
    failed = _one(events, "migration.failed")
    assert failed["level"] == "ERROR" and failed["migration"] == "catalog.0007_leaks"
    assert failed["error"].startswith("RuntimeError: cannot reach the search service with ********")
    assert _one(events, "migration.undone")["migration"] == "catalog.0006_review"
    assert _one(events, "recovery.finished")["recovery"] == "reversed"
    finished = _one(events, "run.finished")
    assert (finished["status"], finished["exit_code"], finished["level"]) == ("recovered", 1, "ERROR")
    assert "********" in finished["error"]
    assert _one(events, "command.finished")["exit_code"] == 1


def test_a_rollback_tells_what_it_reversed():
    code, stdout, stderr = _manage("safe_migrate", "--release", "r1", log_format=None)
    assert code == 0, stdout + stderr
    code, stdout, stderr = _manage("safe_migrate", "--release", "r2", catalog="catalog_next", log_format=None)
    assert code == 0, stdout + stderr
    code, stdout, stderr = _manage("rollback_release", "--noinput", catalog="catalog_next")
    assert code == 0, stdout + stderr
    events = _events(stderr)
    assert _names(events) == [
        "command.started",
        "run.started",
        "lock.acquired",
        "backup.taken",
        "migration.reversed",
        "migration.reversed",
        "run.finished",
        "command.finished",
    ]
    _check_context(events, "r1")
    assert events[0]["command"] == "rollback_release"
    assert _one(events, "run.started")["kind"] == "rollback"
    assert _one(events, "run.finished")["from_release"] == "r2"
    reversed_ = [e for e in events if e["event"] == "migration.reversed"]
    assert [e["migration"] for e in reversed_] == ["catalog.0007_product_stock", "catalog.0006_review"]
    assert all(e["backwards"] is True for e in reversed_)
    assert _one(events, "run.finished")["status"] == "rolled_back"


def test_a_run_that_waits_for_the_lock_says_so():
    with locking.deploy_lock("default", wait=0, holder_info={"host": "elsewhere", "pid": 1, "release": "r0"}):
        code, stdout, stderr = _manage("safe_migrate", "--release", "r2", "--lock-wait", "0.3")
    assert code == 2, stdout + stderr
    events = _events(stderr)
    assert _names(events) == [
        "command.started",
        "run.started",
        "lock.waiting",
        "lock.not_acquired",
        "run.finished",
        "command.finished",
    ]
    assert _one(events, "lock.waiting")["wait_seconds"] == 0.3
    assert _one(events, "run.finished")["status"] == "could_not_run"
    finished = _one(events, "command.finished")
    # Said in the event, not again as a text line: stderr stays JSON lines.
    assert finished["exit_code"] == 2 and "deploy lock" in finished["error"]


def test_a_signal_is_an_event_not_a_text_line(tmp_path):
    """With --log-format json, SIGTERM's notice is a run.signal event: stderr stays JSON lines."""
    marker, go = tmp_path / "marker", tmp_path / "go"
    env = {
        "DEPLOY_API_TOKEN": PLANTED_TOKEN,
        "DATABASE_URL": _database_url(),
        "CICD_TEST_CATALOG": "catalog_handshake",
        "CICD_TEST_MARKER": str(marker),
        "CICD_TEST_GO": str(go),
    }
    try:
        process = run_manage("safe_migrate", "--release", "stopped", "--log-format", "json", env=env)
        # Handshake: the migration writes the marker, then waits for "go" (no timing involved).
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), process.communicate(timeout=60)
        process.send_signal(signal.SIGTERM)
        go.write_text("go")
        stdout, stderr = process.communicate(timeout=300)
    finally:
        drop_tables("default", "catalog_review")
    assert process.returncode == 1, stdout + stderr
    events = _events(stderr)
    signalled = _one(events, "run.signal")
    assert signalled["signal"] == "SIGTERM" and signalled["level"] == "WARNING"
    assert signalled["note"].startswith("stopping after the current statement")
    assert _names(events)[-4:] == ["migration.undone", "recovery.finished", "run.finished", "command.finished"]
    assert _one(events, "run.finished")["status"] == "recovered"


@pytest.mark.parametrize(
    "name", ["predeploy", "safe_migrate", "rollback_release", "releases", "env", "sentry_check", "cicd_init"]
)
def test_every_command_takes_log_format(name):
    command = load_command_class("django_cicd", name)
    assert "--log-format {text,json}" in command.create_parser("manage.py", name).format_help()


def test_text_mode_prints_what_it_printed_before():
    """Without --log-format json, the events go only to the project's LOGGING: nothing on stderr, even
    for the ERROR events of a failed run (Python's last-resort handler would print those)."""
    code, stdout, stderr = _manage("safe_migrate", "--release", "r2", catalog=LEAKS, log_format=None)
    assert code == 1
    assert stderr == ""
    assert "safe_migrate FAILED" in stdout


def test_the_setting_turns_json_on_and_the_option_wins():
    with override_settings(CICD={"LOG_FORMAT": "json"}):
        _stdout, stderr, code = run_command("releases")
        assert code == 0
        assert _names(_events(stderr)) == ["command.started", "command.finished"]
        _stdout, stderr, code = run_command("releases", log_format="text")
        assert code == 0 and stderr == ""


def test_a_bad_log_format_setting_is_a_system_check_error():
    with override_settings(CICD={"LOG_FORMAT": "yaml"}):
        errors = [e for e in run_checks() if e.id == "django_cicd.E050"]
    assert [e.msg for e in errors] == ["CICD['LOG_FORMAT'] must be 'text' or 'json', not 'yaml'."]


def test_predeploy_logs_each_check_and_its_outcome():
    only = "cicd.migrations.conflicts"
    _stdout, stderr, code = run_command("predeploy", "--no-db", "--only", only, log_format="json")
    assert code == 0
    events = _events(stderr)
    assert _names(events) == ["command.started", "check.result", "predeploy.outcome", "command.finished"]
    check = _one(events, "check.result")
    assert (check["check"], check["status"], check["blocking"]) == ("cicd.migrations.conflicts", "passed", 0)
    assert _one(events, "predeploy.outcome")["passed"] is True


# --- the application's logging ---------------------------------------------------------------------------


def _logged(request):
    logging.getLogger("testproject.shop").info("order placed", extra={"order": 42})
    return HttpResponse("ok")


urlpatterns = [path("order/", _logged)]


@pytest.fixture
def container_logs(capsys):
    """container_logging() in force (its stream resolved to the captured stdout), then the settings' own."""

    names = ["", "django", "django.server", "django_cicd"]
    saved = {name: (lg.level, lg.handlers[:], lg.propagate) for name in names for lg in [logging.getLogger(name)]}

    def apply(level):
        logging.config.dictConfig(container_logging(level=level))

    yield apply
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


def _stdout_records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=["django_cicd.logs.RequestIdMiddleware"])
def test_the_application_logs_json_lines_with_the_request_id(client, container_logs, capsys):
    container_logs("info")
    capsys.readouterr()
    response = client.get("/order/", headers={"X-Request-ID": "req-5d1c"})
    assert response["X-Request-ID"] == "req-5d1c"
    client.get("/missing/", headers={"X-Request-ID": "req-77aa"})  # django.request logs a warning
    client.get("/order/", headers={"X-Request-ID": "forged\nline"})  # not an id: left out
    records = _stdout_records(capsys)
    order, missing, forged = records
    assert (order["logger"], order["message"], order["order"], order["level"]) == (
        "testproject.shop",
        "order placed",
        42,
        "INFO",
    )
    assert order["request_id"] == "req-5d1c" and order["time"]
    assert (missing["logger"], missing["level"], missing["request_id"]) == ("django.request", "WARNING", "req-77aa")
    assert missing["message"] == "Not Found: /missing/"
    assert "request_id" not in forged


@override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=["django_cicd.logs.RequestIdMiddleware"])
def test_the_level_comes_from_the_environment_contract(client, container_logs, capsys):
    container_logs("WARNING")
    capsys.readouterr()
    client.get("/order/")
    client.get("/missing/")
    assert [r["logger"] for r in _stdout_records(capsys)] == ["django.request"]


@pytest.mark.parametrize("level", ["LOUD", 3.5, True])
def test_a_bad_level_is_refused(level):
    with pytest.raises(ValueError, match="container_logging"):
        container_logging(level=level)


def test_no_level_means_info():
    config = container_logging(level=None)
    assert config["root"]["level"] == "INFO" and config["loggers"]["django"]["level"] == "INFO"


def test_events_stay_quiet_without_a_handler(capfd):
    from django_cicd import events

    events.emit("test.quiet", logging.ERROR, note=settings.SECRET_KEY)
    assert capfd.readouterr().err == ""


def test_an_event_field_may_not_overwrite_a_record_attribute():
    from django_cicd import events

    stream = StringIO()
    with events.json_to_stderr(stream), pytest.raises(ValueError, match="LogRecord attributes"):
        events.emit("test.clash", name="x")
