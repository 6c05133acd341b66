"""manage.py env, the cicd.env.contract predeploy check and the system checks E040/E042."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from django_cicd import env
from django_cicd.checks import run_checks
from django_cicd.system_checks import check_cicd_settings
from tests.utils import ROOT, run_cli, run_command

SECRET = "planted-db-password-7c6b5a4f3e2d1c0b"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "planted-secret-key-" + "k" * 40,
    "ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": f"postgres://shop:{SECRET}@db.internal:5432/shop",
}


@pytest.fixture
def environ(monkeypatch):
    for name in ("DJANGO_ENV", "DJANGO_BUILD", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DEBUG", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return apply


def test_table_lists_every_variable(environ):
    stdout, _stderr, code = run_command("env")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "environment contract: 14 variables, stage development (DJANGO_ENV)"
    assert lines[1].split() == ["NAME", "TYPE", "STATE", "SOURCE", "REQUIRED", "VALUE"]
    assert lines[2].split() == ["SECRET_KEY", "str", "secret", "default", "default", "no", "(secret)"]
    assert lines[-1] == "every variable is set or has a default"


def test_json_for_a_target_stage_shows_problems_and_no_secret(environ):
    environ(DATABASE_URL=PRODUCTION["DATABASE_URL"], DEBUG="Flase")
    stdout, stderr, code = run_command("env", "--stage", "production", "--format", "json")
    assert code == 1
    assert (
        stderr
        == "CommandError: 3 variables are missing or invalid for stage production; set them in the environment.\n"
    )
    document = json.loads(stdout)
    assert document["schema"] == "django-cicd/env"
    assert document["version"] == 1
    assert document["stage"] == "production"
    assert document["ok"] is False
    by_name = {v["name"]: v for v in document["variables"]}
    assert by_name["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "type": "db_url",
        "state": "set",
        "source": "environment",
        "secret": True,
        "required": True,
        "required_in": ["staging", "production"],
        "value": None,
        "default": None,
        "help": by_name["DATABASE_URL"]["help"],
        "problem": None,
    }
    assert [p["name"] for p in document["problems"]] == ["SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"]
    assert SECRET not in stdout


def test_unknown_stage_could_not_run(environ):
    _stdout, stderr, code = run_command("env", "--stage", "prod")
    assert code == 2
    assert stderr == (
        "CommandError: --stage 'prod' is not a stage of the contract; use one of development, test, staging, "
        "production.\n"
    )


def test_stage_is_matched_without_regard_to_case(environ):
    environ(**PRODUCTION)
    stdout, stderr, code = run_command("env", "--stage", "Production", "--format", "json")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["stage"] == "production"


def test_example_with_output_writes_the_file_and_says_so(environ, tmp_path):
    target = tmp_path / "config" / ".env.example"
    stdout, stderr, code = run_command("env", "--example", "--output", str(target))
    assert (code, stderr) == (0, "")
    assert stdout == f"wrote {target}: the stage variable and the 14 variables of the environment contract.\n"
    assert target.read_text(encoding="utf-8") == (ROOT / ".env.example").read_text(encoding="utf-8")


def test_example_matches_the_committed_file(environ):
    stdout, _stderr, code = run_command("env", "--example")
    assert code == 0
    assert stdout == (ROOT / ".env.example").read_text(encoding="utf-8")
    stdout, _stderr, code = run_command("env", "--check-example", str(ROOT / ".env.example"))
    assert (code, stdout) == (0, f"{ROOT / '.env.example'} matches the environment contract.\n")


def test_check_example_fails_when_out_of_sync(environ, tmp_path):
    stale = tmp_path / ".env.example"
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    stale.write_text(text.replace("DEBUG=true", "DEBUG=false").replace("CACHE_URL=", "OLD_CACHE=") + "LEGACY=1\n")
    stdout, stderr, code = run_command("env", "--check-example", str(stale))
    assert code == 1
    assert stdout.splitlines() == [
        "  - missing from the file: CACHE_URL",
        "  - not in the contract: OLD_CACHE, LEGACY",
        "  - DEBUG is 'false' in the file but 'true' in the contract",
    ]
    assert stderr == (
        f"CommandError: {stale} is out of sync with the environment contract; regenerate it with "
        f"`manage.py env --example --output {stale}`.\n"
    )


def test_check_example_missing_file_could_not_run(environ, tmp_path):
    _stdout, stderr, code = run_command("env", "--check-example", str(tmp_path / "nope"))
    assert code == 2
    assert stderr == f"CommandError: cannot read {tmp_path / 'nope'}: No such file or directory.\n"


def test_no_contract_could_not_run(environ):
    with override_settings(CICD={}):
        active = env._active[:]
        env._active.clear()
        try:
            _stdout, stderr, code = run_command("env")
        finally:
            env._active[:] = active
    assert code == 2
    assert stderr.startswith("CommandError: No environment contract is loaded")


def test_broken_settings_list_every_problem_without_secrets():
    result = run_cli(
        "check",
        env={"DJANGO_ENV": "production", "DEBUG": "Flase", "DATABASE_URL": "$" + SECRET},
        settings="testproject.settings",
    )
    assert result.returncode == 2  # could not run; tests/test_broken_environment_cli.py has the whole text
    assert "Traceback" not in result.stderr
    assert "DEBUG is invalid: 'Flase' is not a boolean" in result.stderr
    assert "SECRET_KEY is missing (required in stage 'production')" in result.stderr
    assert "DATABASE_URL is invalid: is not a URL (scheme://...)" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_collectstatic_in_the_build_phase_needs_no_runtime_secret(tmp_path):
    result = run_cli(
        "collectstatic",
        "--noinput",
        env={
            "DJANGO_ENV": "production",
            "DJANGO_BUILD": "1",
            "STATIC_ROOT": str(tmp_path / "static"),
            "SECRET_KEY": "",
            "DATABASE_URL": "",
            "ALLOWED_HOSTS": "",
        },
        settings="testproject.settings",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()


def test_predeploy_check_reports_every_problem_for_the_target_stage(environ):
    environ(DJANGO_BUILD="1", DEBUG="Flase")
    report = run_checks(only=["cicd.env.contract"], environment="production")
    [result] = report.results
    assert [(f.code, f.message) for f in result.findings] == [
        ("cicd.env.build_phase", "DJANGO_BUILD is set at deploy time: runtime secrets would be placeholders"),
        ("cicd.env.missing", "SECRET_KEY is missing (required in stage 'production')"),
        ("cicd.env.invalid", "DEBUG is invalid: 'Flase' is not a boolean; use one of true/false, yes/no, on/off, 1/0"),
        ("cicd.env.missing", "ALLOWED_HOSTS is missing (required in stage 'production')"),
        ("cicd.env.missing", "DATABASE_URL is missing (required in stage 'production')"),
    ]
    assert report.exit_code == 1


def test_predeploy_check_passes_with_the_production_environment(environ):
    environ(**PRODUCTION)
    report = run_checks(only=["cicd.env.contract"], environment="production")
    assert report.results[0].findings == []


def test_predeploy_check_unknown_stage(environ):
    report = run_checks(only=["cicd.env.contract"], environment="qa")
    [finding] = report.results[0].findings
    assert finding.code == "cicd.env.stage"


def test_predeploy_check_skipped_without_contract(environ):
    with override_settings(CICD={}):
        active = env._active[:]
        env._active.clear()
        try:
            report = run_checks(only=["cicd.env.contract"])
        finally:
            env._active[:] = active
    assert report.results[0].status == "skipped"


def test_e040_env_contract_must_import():
    with override_settings(CICD={"ENV_CONTRACT": "testproject.settings.NOPE"}):
        errors = [e for e in check_cicd_settings() if e.id == "django_cicd.E040"]
    assert len(errors) == 1
    assert errors[0].msg.startswith("CICD['ENV_CONTRACT'] is 'testproject.settings.NOPE', which cannot be imported")


def test_e042_secrets_need_the_reporter_filter(settings):
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    [error] = [e for e in check_cicd_settings() if e.id == "django_cicd.E042"]
    assert error.msg == (
        "The environment contract declares secret variables, but DEFAULT_EXCEPTION_REPORTER_FILTER "
        "(django.views.debug.SafeExceptionReporterFilter) would show their values on debug pages and in error e-mails."
    )
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django_cicd.debug.SecretsExceptionReporterFilter"
    assert check_cicd_settings() == []
