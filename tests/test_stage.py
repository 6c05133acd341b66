"""The stage: one variable names it (CICD['ENVIRONMENT_VARIABLE'], else the env contract's
stage_variable, else DJANGO_ENV) for the commands, the contract and Sentry; production is matched
case-insensitively."""

from __future__ import annotations

import pytest

from django_cicd import conf, env, sentry
from django_cicd.conf import cicd_settings, is_production


@pytest.fixture
def app_env_contract(monkeypatch, settings):
    """The settings loaded a contract whose stage variable is APP_ENV, not DJANGO_ENV."""
    contract = env.Contract(stage_variable="APP_ENV", stages=["dev", "staging", "production"], default_stage="dev")
    monkeypatch.setattr(env, "_active", [contract])
    settings.CICD = {}
    for name in ("APP_ENV", "DJANGO_ENV", "SENTRY_ENVIRONMENT", "CI"):
        monkeypatch.delenv(name, raising=False)
    return contract


def test_the_default_stage_variable_is_defined_once():
    assert conf.DEFAULT_STAGE_VARIABLE == "DJANGO_ENV"
    assert conf.DEFAULTS["ENVIRONMENT_VARIABLE"] == conf.DEFAULT_STAGE_VARIABLE
    assert env.Contract().stage_variable == conf.DEFAULT_STAGE_VARIABLE


def test_the_commands_read_the_contracts_stage_variable(app_env_contract, monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "staging")
    monkeypatch.setenv("APP_ENV", "production")
    assert conf.stage_variable() == "APP_ENV"
    assert cicd_settings.ENVIRONMENT_VARIABLE == "APP_ENV"
    assert cicd_settings.ENVIRONMENT == "production"


def test_an_explicit_setting_wins_over_the_contract(app_env_contract, monkeypatch, settings):
    settings.CICD = {"ENVIRONMENT_VARIABLE": "DEPLOY_STAGE"}
    monkeypatch.setenv("APP_ENV", "staging")
    monkeypatch.setenv("DEPLOY_STAGE", "production")
    assert conf.stage_variable() == "DEPLOY_STAGE"
    assert cicd_settings.ENVIRONMENT == "production"
    settings.CICD = {"ENVIRONMENT_VARIABLE": "DEPLOY_STAGE", "ENVIRONMENT": "staging"}
    assert cicd_settings.ENVIRONMENT == "staging"


def test_without_a_contract_it_is_django_env(monkeypatch, settings):
    monkeypatch.setattr(env, "_active", [])
    settings.CICD = {}
    monkeypatch.setenv("DJANGO_ENV", " staging ")
    assert conf.stage_variable() == "DJANGO_ENV"
    assert cicd_settings.ENVIRONMENT == "staging"


def test_sentry_reads_the_same_stage_variable(app_env_contract, monkeypatch):
    monkeypatch.setenv("DJANGO_ENV", "development")
    monkeypatch.setenv("APP_ENV", "staging")
    setup = sentry.resolve_setup()
    assert (setup.environment, setup.environment_source) == ("staging", "APP_ENV")


def test_sentry_reads_the_stage_variable_before_settings_are_configured(tmp_path):
    """init_sentry runs at the end of the settings module, before Django's settings exist: it uses the
    contract that module just loaded."""
    import subprocess
    import sys

    from tests.utils import ROOT

    code = (
        "from django_cicd import env, sentry\n"
        "env.Contract(stage_variable='APP_ENV', stages=['dev', 'live'], default_stage='dev').load()\n"
        "s = sentry.resolve_setup()\n"
        "print(s.environment, s.environment_source)\n"
    )
    environ = {"PATH": "/usr/bin:/bin", "APP_ENV": "live", "DJANGO_ENV": "development", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=environ, check=False
    )
    assert (result.stdout, result.stderr) == ("live APP_ENV\n", "")


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("production", True),
        ("Production", True),
        ("PRODUCTION", True),
        (" production\n", True),
        ("prod", False),
        ("staging", False),
        ("", False),
        (None, False),
    ],
)
def test_is_production_ignores_case(settings, environment, expected):
    settings.CICD = {}
    assert is_production(environment) is expected


def test_is_production_uses_the_setting(settings):
    settings.CICD = {"PRODUCTION_ENVIRONMENTS": ["Live", "prod-eu"]}
    assert is_production("live") and is_production("PROD-EU")
    assert not is_production("production")


def test_the_contract_takes_a_stage_in_any_case():
    contract = env.Contract(stage_variable="APP_ENV", stages=["dev", "production"], default_stage="dev")
    reading = contract.read({"APP_ENV": "Production"})
    assert (reading.stage, reading.problems) == ("production", [])
    assert contract.read({}, stage="PRODUCTION").stage == "production"
