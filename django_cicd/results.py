"""The one result shape every command returns.

A command's Python API returns an object that follows :class:`CommandResult`; the command renders it
with :mod:`django_cicd.reporting` (text for people, a versioned JSON document for machines) and exits
with its ``exit_code``. Every JSON document starts with the same envelope::

    {"schema": "django-cicd/<document>", "version": 1, "command": "<command>",
     "status": "...", "exit_code": 0, "summary": "one sentence", ...the command's own fields}

and has a JSON Schema in ``docs/reference/<document>.v<version>.schema.json`` (tests validate real
output against each).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class CommandResult(Protocol):
    @property
    def command(self) -> str:
        """The management command that made it ("safe_migrate")."""

    @property
    def exit_code(self) -> int:
        """0 yes, 1 the answer is no, 2 could not run (see :mod:`django_cicd.exit_codes`)."""

    @property
    def summary(self) -> str:
        """One sentence: what the command found or did."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON document, envelope included (see :func:`envelope`)."""


def envelope(
    schema: str, *, command: str, status: str, exit_code: int, summary: str, version: int = 1
) -> dict[str, Any]:
    """The first keys of every command's JSON document, in this order."""
    return {
        "schema": f"django-cicd/{schema}",
        "version": version,
        "command": command,
        "status": status,
        "exit_code": int(exit_code),
        "summary": summary,
    }
