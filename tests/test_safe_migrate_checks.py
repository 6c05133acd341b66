"""System checks of the safe_migrate settings: django_cicd.E030 and E032, one test per id."""

from __future__ import annotations

import pytest

from django_cicd.system_checks import check_cicd_settings


def _ids(settings, **cicd):
    settings.CICD = cicd
    return [(e.id, e.msg) for e in check_cicd_settings()]


@pytest.mark.parametrize("key", ["BACKUP_COMPRESS", "BACKUP_ENCRYPT"])
def test_e030_backup_flags_are_booleans(settings, key):
    assert _ids(settings, **{key: "yes"}) == [("django_cicd.E030", f"CICD[{key!r}] must be True or False, not 'yes'.")]
    assert _ids(settings, **{key: True}) == []


def test_e032_dbbackup_must_be_installed(settings):
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "dbbackup"]
    assert (
        "django_cicd.E032",
        "'dbbackup' is not in INSTALLED_APPS, so safe_migrate cannot take its backup before migrating.",
    ) in [(e.id, e.msg) for e in check_cicd_settings()]
