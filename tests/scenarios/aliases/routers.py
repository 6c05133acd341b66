from __future__ import annotations

from typing import Any


class ToTwinAndReplica:
    """Writes of catalog models go to "twin", reads to "replica"."""

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "twin" if model._meta.app_label == "catalog" else None

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return "replica" if model._meta.app_label == "catalog" else None
