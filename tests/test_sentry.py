"""django_cicd.sentry without the network: environment (release detection: test_release.py),
scrubbing, the hook receivers, the predeploy check and the system checks E041/E043/E044 (the recording transport; see
test_sentry_e2e.py for the real HTTP transport)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.test import override_settings

from django_cicd import hooks, release, sentry
from django_cicd.checks import run_checks
from django_cicd.report import Severity
from django_cicd.system_checks import check_cicd_settings
from tests.utils import ROOT

SECRET = "planted-token-5e4d3c2b1a09f8e7"


@pytest.fixture
def clean_environ(monkeypatch, tmp_path):
    for name in (
        *release.RELEASE_VARIABLES,
        "SENTRY_DSN",
        "SENTRY_ENVIRONMENT",
        "DJANGO_ENV",
        "CI",
        "CICD_REVISION_FILE",
        "SENTRY_TRACES_SAMPLE_RATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_environment_is_never_the_sdk_production_default(clean_environ):
    assert sentry.resolve_setup().environment == "unknown"
    clean_environ.setenv("CI", "true")
    assert (sentry.resolve_setup().environment, sentry.resolve_setup().environment_source) == ("ci", "CI")
    clean_environ.setenv("DJANGO_ENV", "staging")
    assert (sentry.resolve_setup().environment, sentry.resolve_setup().environment_source) == ("staging", "DJANGO_ENV")
    assert sentry.resolve_setup(stage="test").environment == "test"
    clean_environ.setenv("SENTRY_ENVIRONMENT", "staging-eu")
    assert sentry.resolve_setup(stage="staging").environment == "staging-eu"


def test_sample_rates_from_the_environment(clean_environ):
    clean_environ.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.2")
    assert sentry.resolve_setup().options == {
        "sample_rate": 1.0,
        "traces_sample_rate": 0.2,
        "profiles_sample_rate": 0.0,
    }
    clean_environ.setenv("SENTRY_TRACES_SAMPLE_RATE", "2")
    with pytest.raises(
        sentry.env_module.ContractError,
        match=re.escape("SENTRY_TRACES_SAMPLE_RATE is invalid: 2.0 is not between 0 and 1"),
    ):
        sentry.resolve_setup()


def test_without_dsn_init_does_nothing_and_imports_nothing(clean_environ):
    code = (
        "import sys; from django_cicd.sentry import init_sentry; s = init_sentry(); "
        "print(s.enabled, 'sentry_sdk' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout == "False False\n"


def test_settings_time_imports_nothing_heavy(clean_environ):
    # What the contract and init_sentry import beyond what plain django-environ settings do: these
    # modules are not needed to read the environment (a settings module must stay cheap to import).
    heavy = ("django.db", "django_cicd.migrations_safety", "django_cicd.checks", "docker", "sentry_sdk")
    heavy += ("urllib.request", "http.client", "email")  # pulled in by xml.sax.saxutils
    code = (
        "import sys, environ, django.conf; before = set(sys.modules)\n"
        "from django_cicd import env; from django_cicd.sentry import VARIABLES, init_sentry\n"
        "E = env.Contract(env.Var('DATABASE_URL', 'db_url', default='sqlite:///db'), *VARIABLES).load()\n"
        "init_sentry(E)\n"
        f"heavy = {heavy!r}; below = tuple(name + '.' for name in heavy)\n"
        "print(sorted(m for m in set(sys.modules) - before if m in heavy or m.startswith(below)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout == "[]\n"


def test_invalid_dsn_is_one_sentence_without_the_key(clean_environ):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as caught:
        sentry.init_sentry(dsn=f"ftp://{SECRET}@sentry.example.com/1")
    assert SECRET not in str(caught.value)
    assert str(caught.value).startswith("SENTRY_DSN is not a valid Sentry DSN (")


def test_recorder_fixture_sees_events_with_secrets_scrubbed(sentry_recorder, monkeypatch):
    monkeypatch.setenv("PAYMENT_API_KEY", SECRET)
    import sentry_sdk

    try:
        raise RuntimeError(f"payment failed with key {SECRET}")
    except RuntimeError as exc:
        sentry_sdk.capture_exception(exc)
    [event] = sentry_recorder.events
    assert event["environment"] == "test"
    assert event["release"] == "test-release"
    assert event["exception"]["values"][0]["value"] == "payment failed with key ********"
    assert SECRET.encode() not in b"".join(e.serialize() for e in sentry_recorder.envelopes)


def test_hook_receivers_send_checkins_and_the_failure(sentry_recorder):
    error = RuntimeError("column shop_order.total does not exist")
    hooks.send_safely(
        hooks.run_started, "safe_migrate", run_id="run-1", release="r2", environment="staging", database="default"
    )
    hooks.send_safely(
        hooks.run_finished,
        "safe_migrate",
        run_id="run-1",
        release="r2",
        environment="staging",
        database="default",
        ok=False,
        exit_code=1,
        error=error,
        summary="migration failed",
        details={},
    )
    started, finished = sentry_recorder.checkins
    assert (started["monitor_slug"], started["status"]) == ("safe-migrate", "in_progress")
    assert (finished["check_in_id"], finished["status"]) == (started["check_in_id"], "error")
    [event] = sentry_recorder.events
    assert (event["release"], event["environment"]) == ("r2", "staging")
    assert event["tags"]["cicd.command"] == "safe_migrate"
    assert event["tags"]["cicd.database"] == "default"
    assert event["contexts"]["django-cicd"]["exit_code"] == 1


def test_successful_run_sends_ok_and_no_event(sentry_recorder):
    with override_settings(CICD={"SENTRY_MONITORS": {"rollback_release": "prod-rollbacks"}}):
        hooks.send_safely(
            hooks.run_started, "rollback_release", run_id="r", release="a", environment=None, database="default"
        )
        hooks.send_safely(
            hooks.run_finished,
            "rollback_release",
            run_id="r",
            release="a",
            environment=None,
            database="default",
            ok=True,
            exit_code=0,
            error=None,
            summary="ok",
            details={"from_release": "b", "to_release": "a"},
        )
    assert [(c["monitor_slug"], c["status"]) for c in sentry_recorder.checkins] == [
        ("prod-rollbacks", "in_progress"),
        ("prod-rollbacks", "ok"),
    ]
    assert sentry_recorder.events == []


def test_receivers_do_nothing_without_sentry():
    # No client: the receivers return quietly (a deploy never fails because reporting is off), and
    # keep no check-in for the run.
    assert sentry._active_sdk() is None
    assert sentry.on_run_started("safe_migrate", run_id="x", release="a", environment=None, database="default") is None
    assert "x" not in sentry._runs
    finished = sentry.on_run_finished(
        "safe_migrate", run_id="x", ok=False, exit_code=1, error=None, summary="", details={}
    )
    assert finished is None
    assert "x" not in sentry._runs


def test_predeploy_sentry_check_skipped_when_not_required(clean_environ):
    report = run_checks(only=["cicd.sentry.config"], environment="production")
    assert report.results[0].status == "skipped"
    assert report.results[0].skipped_reason == "SENTRY_DSN is not set and stage production does not require Sentry"


def test_predeploy_sentry_check_required_stage(clean_environ):
    with override_settings(CICD={"SENTRY_STAGES": ["production"]}):
        report = run_checks(only=["cicd.sentry.config"], environment="production")
        [finding] = report.results[0].findings
        assert finding.code == "cicd.sentry.dsn_missing"
        clean_environ.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/5")
        clean_environ.setenv("SENTRY_ENVIRONMENT", "staging")
        report = run_checks(only=["cicd.sentry.config"], environment="production")
        codes = [f.code for f in report.results[0].findings]
        assert codes == ["cicd.sentry.release_unknown", "cicd.sentry.environment_mismatch", "cicd.sentry.summary"]
        assert report.exit_code == 1
        clean_environ.delenv("SENTRY_ENVIRONMENT")
        clean_environ.setenv("GITHUB_SHA", "abc123")
        report = run_checks(only=["cicd.sentry.config"], environment="production")
        [summary] = report.results[0].findings
        assert summary.message == (
            "Sentry: https://o1.ingest.sentry.io/5, environment production (from stage), "
            "release abc123 (from GITHUB_SHA)"
        )
        assert report.exit_code == 0
        clean_environ.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/not-a-project")
        report = run_checks(only=["cicd.sentry.config"], environment="production")
        assert report.results[0].findings[0].code == "cicd.sentry.dsn_invalid"
        assert SECRET not in report.results[0].findings[0].message


def test_predeploy_sentry_check_reports_invalid_sentry_variables(clean_environ):
    clean_environ.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/5")
    clean_environ.setenv("SENTRY_TRACES_SAMPLE_RATE", "2")
    report = run_checks(only=["cicd.sentry.config"], environment="production")
    [finding] = report.results[0].findings
    assert finding.code == "cicd.sentry.variables"
    assert "SENTRY_TRACES_SAMPLE_RATE" in finding.message
    assert SECRET not in finding.message
    assert report.exit_code == 1


@pytest.mark.parametrize(("ci", "would_be"), [(None, sentry.UNKNOWN_ENVIRONMENT), ("true", sentry.CI_ENVIRONMENT)])
def test_predeploy_sentry_check_implicit_environment(clean_environ, ci, would_be):
    clean_environ.setenv("SENTRY_DSN", f"https://{SECRET}@o1.ingest.sentry.io/5")
    clean_environ.setenv("GITHUB_SHA", "abc123")
    if ci:
        clean_environ.setenv("CI", ci)
    with override_settings(CICD={}):  # no stage anywhere: not in CICD, not in DJANGO_ENV
        report = run_checks(only=["cicd.sentry.config"])
    codes = [f.code for f in report.results[0].findings]
    assert codes == ["cicd.sentry.environment_implicit", "cicd.sentry.summary"]
    implicit = report.results[0].findings[0]
    assert implicit.message == f"Sentry's environment is not explicit: it would be {would_be!r}"
    assert implicit.severity == Severity.WARNING  # no stage requires Sentry here; a warning still fails the run
    assert report.exit_code == 1


def test_e041_sentry_stages():
    with override_settings(CICD={"SENTRY_STAGES": "production"}):
        assert [e.id for e in check_cicd_settings()] == ["django_cicd.E041"]


def test_e043_sentry_monitors():
    with override_settings(CICD={"SENTRY_MONITORS": {"safe_migrate": ""}}):
        assert [e.id for e in check_cicd_settings()] == ["django_cicd.E043"]


def test_e044_flush_timeout():
    with override_settings(CICD={"SENTRY_FLUSH_TIMEOUT": 0}):
        [error] = check_cicd_settings()
    assert (error.id, error.msg) == (
        "django_cicd.E044",
        "CICD['SENTRY_FLUSH_TIMEOUT'] must be a number of seconds > 0, not 0.",
    )


def test_release_names_reach_sentry_without_control_characters(clean_environ):
    clean_environ.setenv("SENTRY_RELEASE", "\x1b[31mv7\x1b[0m")
    setup = sentry.resolve_setup()
    assert (setup.release, setup.release_source) == ("v7", "SENTRY_RELEASE")
