"""One test per system check id that validates settings.CICD."""

from __future__ import annotations

import pytest
from django.core.checks import Error
from django.test import override_settings

from django_cicd.system_checks import check_cicd_settings


def ids(messages: list[Error]) -> list[str]:
    return [m.id for m in messages]


def test_default_settings_are_valid():
    assert check_cicd_settings() == []


@override_settings(CICD=["not", "a", "dict"])
def test_e001_cicd_must_be_a_dict():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E001"
    assert error.msg == "CICD must be a dict, not list."


@override_settings(CICD={"WAVERS": []})
def test_e002_unknown_key_suggests_the_close_one():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E002"
    assert error.msg == "CICD has an unknown key 'WAVERS'."
    assert error.hint == "Did you mean 'WAIVERS'?"


@override_settings(CICD={"CHECKS": "myproject.checks"})
def test_e003_checks_must_be_a_list():
    assert ids(check_cicd_settings()) == ["django_cicd.E003"]


@override_settings(CICD={"CHECKS": ["tests.no_such_module"]})
def test_e003_checks_entry_must_import():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E003"
    assert error.msg.startswith("CICD['CHECKS'] entry 'tests.no_such_module' cannot be imported")


@override_settings(CICD={"WAIVERS": [{"id": "security.W004"}]})
def test_e004_waiver_without_reason():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E004"
    assert error.msg == "CICD['WAIVERS'][0] (security.W004) needs a 'reason': say why this finding is accepted."


@override_settings(CICD={"WAIVERS": [{"id": "security.W004", "reason": "r", "expires": "next week"}]})
def test_e004_waiver_with_bad_date():
    [error] = check_cicd_settings()
    assert error.msg == "CICD['WAIVERS'][0] (security.W004) has expires='next week'; write a date as YYYY-MM-DD."


@override_settings(CICD={"FAIL_LEVEL": "fatal"})
def test_e005_fail_level():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E005"
    assert error.msg == (
        "CICD['FAIL_LEVEL'] is invalid: unknown level 'fatal'; choose one of debug, info, warning, error, critical."
    )


@pytest.mark.parametrize("value", [-1, "60", True, float("inf"), float("nan")])
def test_e006_numbers(value):
    with override_settings(CICD={"LOCK_WAIT": value}):
        [error] = check_cicd_settings()
    assert error.id == "django_cicd.E006"
    assert error.msg == f"CICD['LOCK_WAIT'] must be a finite number of seconds >= 0, not {value!r}."


@pytest.mark.parametrize("key", ["LOCK_TIMEOUT", "STATEMENT_TIMEOUT", "LOCK_HEARTBEAT"])
@pytest.mark.parametrize("value", [0, -1, float("inf")])
def test_e006_timeouts_must_be_positive(key, value):
    with override_settings(CICD={key: value}):
        [error] = check_cicd_settings()
    assert error.id == "django_cicd.E006"
    assert error.msg == f"CICD[{key!r}] must be a finite number of seconds > 0, not {value!r}."


@override_settings(CICD={"SECRETS": "API_TOKEN"})
def test_e007_lists_of_names():
    [error] = check_cicd_settings()
    assert (error.id, error.msg) == ("django_cicd.E007", "CICD['SECRETS'] must be a list of strings.")


@override_settings(CICD={"MIGRATION_SAFETY": {"thirdparty": ["accept"]}})
def test_e008_migration_safety_shape():
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E008"


@pytest.mark.django_db(databases="__all__")  # Django's JSONField check asks each SQLite or MySQL alias about JSON
def test_system_checks_run_through_django(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.CICD = {"FAIL_LEVEL": "fatal"}
    with pytest.raises(SystemCheckError, match=r"django_cicd\.E005"):
        call_command("check")


@pytest.mark.parametrize("key", ["IMAGE_VARIABLE", "DOCKER_TAG", "ENVIRONMENT_VARIABLE"])
def test_e009_names_must_be_strings(settings, key):
    settings.CICD = {key: ""}
    [error] = check_cicd_settings()
    assert (error.id, error.msg) == ("django_cicd.E009", f"CICD[{key!r}] must be a non-empty string, not ''.")


def test_e009_environment_and_static_check(settings):
    settings.CICD = {"ENVIRONMENT": 3, "STATIC_CHECK": "yes"}
    assert [e.msg for e in check_cicd_settings()] == [
        "CICD['ENVIRONMENT'] must be a string or None, not 3.",
        "CICD['STATIC_CHECK'] must be True or False.",
    ]
