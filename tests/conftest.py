from __future__ import annotations

import shutil
import sys

import pytest
from django.test import override_settings


@pytest.fixture
def cicd_settings():
    """Override ``settings.CICD`` for one test: ``cicd_settings(WAIVERS=[...])``."""
    overrides = []

    def apply(**values):
        override = override_settings(CICD=values)
        override.enable()
        overrides.append(override)

    yield apply
    for override in reversed(overrides):
        override.disable()


def pytest_unconfigure(config):
    """Remove the directory tests/settings.py made for this session (SQLite test databases, backups),
    after every fixture, test database and child process of the session is done with it. A process
    that inherited the directory (DJANGO_CICD_TEST_DIR) leaves it to the one that made it."""
    settings_module = sys.modules.get("tests.settings")  # not imported: it made no directory
    made = getattr(settings_module, "TEST_DIR_MADE_HERE", None)
    if made:
        shutil.rmtree(made)
