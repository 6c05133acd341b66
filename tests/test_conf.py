from __future__ import annotations

import pytest
from django.test import override_settings

from django_cicd.conf import cicd_settings


def test_defaults_without_a_setting(settings, monkeypatch):
    del settings.CICD
    monkeypatch.delenv("DJANGO_ENV", raising=False)
    assert cicd_settings.FAIL_LEVEL == "warning"
    assert cicd_settings.ENVIRONMENT is None
    assert cicd_settings.CHECKS == []
    assert cicd_settings.LOCK_WAIT == 600.0


def test_read_lazily_so_override_settings_works():
    with override_settings(CICD={"FAIL_LEVEL": "ERROR", "ENVIRONMENT": "staging"}):
        assert cicd_settings.FAIL_LEVEL == "error"
        assert cicd_settings.ENVIRONMENT == "staging"
    assert cicd_settings.ENVIRONMENT != "staging"


def test_environment_falls_back_to_the_variable(settings, monkeypatch):
    settings.CICD = {"ENVIRONMENT_VARIABLE": "APP_STAGE"}
    monkeypatch.setenv("APP_STAGE", "production")
    assert cicd_settings.ENVIRONMENT == "production"


def test_unknown_key_is_an_attribute_error():
    with pytest.raises(AttributeError, match="CICD has no setting 'NOPE'"):
        cicd_settings.get("NOPE")
