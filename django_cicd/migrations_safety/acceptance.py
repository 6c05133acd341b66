"""Accepting a known risk, with a reason: in a migration, on one operation, or per app in settings.

On the Migration class::

    class Migration(migrations.Migration):
        cicd_accept = {"cicd.safety.pg_index_not_concurrent": "the table holds 40 rows"}

On one operation::

    from django_cicd.migrations_safety import accept

    operations = [
        accept(migrations.RemoveField("product", "legacy_code"),
               "cicd.safety.remove_field", "unused since release 41, see #812"),
    ]

Per app, for third-party apps whose migrations you do not edit::

    CICD = {"MIGRATION_SAFETY": {"wagtailcore": {"accept": {"cicd.safety.add_unique": "..."}}}}

An acceptance without a reason is itself an error (``cicd.safety.acceptance_invalid``) and accepts
nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

from django_cicd.migrations_safety.rules import PREFIX, RULES

#: The attribute read on a Migration class and on an operation.
ACCEPT_ATTRIBUTE = "cicd_accept"
#: The keys an app's entry in ``CICD["MIGRATION_SAFETY"]`` may hold.
APP_OPTIONS = ("accept",)

T = TypeVar("T")


def accept(operation: T, rule_id: str, reason: str) -> T:
    """Mark ``operation`` as accepting ``rule_id`` for ``reason``; returns the operation itself.

    Call it again on the same operation to accept several rules.
    """
    accepted = dict(getattr(operation, ACCEPT_ATTRIBUTE, None) or {})
    accepted[rule_id] = reason
    setattr(operation, ACCEPT_ATTRIBUTE, accepted)
    return operation


def parse_acceptances(raw: Any, where: str) -> tuple[dict[str, str], list[str]]:
    """The valid ``{rule id: reason}`` of ``raw`` and one sentence per invalid entry.

    ``where`` names the place in the sentences (``catalog.0005_x (Migration.cicd_accept)``).
    """
    if raw is None:
        return {}, []
    if not isinstance(raw, Mapping):
        return {}, [f"{where} must be a dict of rule id to reason, not {type(raw).__name__}."]
    valid: dict[str, str] = {}
    problems: list[str] = []
    for rule_id, reason in raw.items():
        problem = rule_problem(rule_id)
        if problem is None and (not isinstance(reason, str) or not reason.strip()):
            problem = f"accepts {rule_id!r} without a reason; write why the risk is acceptable here."
        if problem is not None:
            problems.append(f"{where} {problem}")
        else:
            valid[str(rule_id)] = str(reason).strip()
    return valid, problems


def rule_problem(rule_id: Any) -> str | None:
    """Why ``rule_id`` cannot be accepted, or None."""
    if not isinstance(rule_id, str) or rule_id not in RULES:
        hint = ""
        if isinstance(rule_id, str):
            candidate = rule_id if rule_id.startswith(PREFIX) else PREFIX + rule_id
            close = difflib.get_close_matches(candidate, RULES, n=1)
            if close:
                hint = f" Did you mean {close[0]!r}?"
        return f"accepts the unknown rule {rule_id!r}.{hint}"
    if not RULES[rule_id].acceptable:
        return f"accepts {rule_id!r}, which cannot be accepted."
    return None


def app_acceptances(settings_value: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{app_label: {rule id: reason}}`` from ``CICD["MIGRATION_SAFETY"]``, invalid entries left out.

    The system checks django_cicd.E020-E023 report the invalid ones.
    """
    result: dict[str, dict[str, str]] = {}
    for app_label, options in settings_value.items():
        if isinstance(options, Mapping):
            valid, _problems = parse_acceptances(options.get("accept"), "")
            result[str(app_label)] = valid
    return result
