"""Migration safety analysis: what the pending migrations will break, lock, or make impossible to undo.

Python API::

    from django_cicd.migrations_safety import analyse_plan
    report = analyse_plan(plan, database="default")        # plan: list of planning.PlanStep
    report.blocking        # findings not accepted with severity >= ERROR
    report.irreversible    # operations without a reverse
    report.as_findings()   # django_cicd.report.Finding objects for predeploy

    # Other selections than the pending plan (bad input raises SelectionError):
    analyse_selection(migrations_since("origin/main"), database="default")
    analyse_selection(named_migrations("catalog.0012,billing.0003"), direction="backwards")

The rules are listed in :data:`RULES` and documented in docs/migration-safety.md.
"""

from django_cicd.migrations_safety.acceptance import accept
from django_cicd.migrations_safety.analysis import SafetyFinding, SafetyReport, analyse_both, analyse_plan
from django_cicd.migrations_safety.gate import gate_hint
from django_cicd.migrations_safety.rules import RULES, Rule
from django_cicd.migrations_safety.sources import (
    Selection,
    SelectionError,
    analyse_selection,
    migrations_since,
    named_migrations,
)

__all__ = [
    "RULES",
    "Rule",
    "SafetyFinding",
    "SafetyReport",
    "Selection",
    "SelectionError",
    "accept",
    "analyse_both",
    "analyse_plan",
    "analyse_selection",
    "gate_hint",
    "migrations_since",
    "named_migrations",
]
