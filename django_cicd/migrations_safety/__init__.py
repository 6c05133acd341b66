"""Migration safety analysis: what the pending migrations will break, lock, or make impossible to undo.

Python API::

    from django_cicd.migrations_safety import analyse_plan
    report = analyse_plan(plan, database="default")        # plan: list of planning.PlanStep
    report.blocking        # findings not accepted with severity >= ERROR
    report.irreversible    # operations without a reverse
    report.as_findings()   # django_cicd.report.Finding objects for predeploy
    report.rollback_window # backwards plans: what the reversal breaks for the new code, and the order

    forwards, backwards = analyse_both(plan)        # both directions from one walk
    stages = classify_stages(plan, database="default")  # .pre, .post, .blocked, .reasons
    gate_hint(report.findings)                      # where each blocking finding is accepted

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
from django_cicd.migrations_safety.stages import StageDecision, StagePlan, classify_stages
from django_cicd.migrations_safety.window import RollbackWindow

__all__ = [
    "RULES",
    "RollbackWindow",
    "Rule",
    "SafetyFinding",
    "SafetyReport",
    "Selection",
    "SelectionError",
    "StageDecision",
    "StagePlan",
    "accept",
    "analyse_both",
    "analyse_plan",
    "analyse_selection",
    "classify_stages",
    "gate_hint",
    "migrations_since",
    "named_migrations",
]
