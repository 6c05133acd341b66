from __future__ import annotations

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
