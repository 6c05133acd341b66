"""django-cicd: deploy a Django project from CI safely, and undo it."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
