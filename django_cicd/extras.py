"""Lazy imports of the optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

EXTRAS = {"sentry_sdk": "sentry", "docker": "docker"}


class MissingExtra(ImproperlyConfigured):
    pass


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` naming the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise MissingExtra(f"{module} is not installed; install it with: pip install 'django-cicd[{extra}]'") from exc
