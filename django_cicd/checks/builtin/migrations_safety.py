"""predeploy checks fed by the migration safety analysis (:mod:`django_cicd.migrations_safety`)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from django.db.migrations.state import ProjectState

from django_cicd import walking
from django_cicd.checks.context import LEAF_STATE_SOURCES, CheckContext
from django_cicd.checks.registry import register
from django_cicd.migrations_safety import SafetyReport, Selection, analyse_both
from django_cicd.migrations_safety.rules import PREFIX
from django_cicd.migrations_safety.sources import analyse_selection_both
from django_cicd.report import Finding, Severity

#: ``CheckContext.options`` key of a :class:`Selection` (predeploy --migrations-since / --migrations).
SELECTION_OPTION = "migration_selection"

#: Rules about undoing a deploy: reported by cicd.migrations.reversible, not by cicd.migrations.safety.
REVERSIBILITY_RULES = frozenset(PREFIX + name for name in ("irreversible", "noop_reverse"))
#: What a reversal of the pending plan would stop on or only half undo.
REVERSAL_BLOCKERS = frozenset(
    PREFIX + name for name in ("irreversible", "noop_reverse", "reverse_not_null_without_default")
)


def _prefixed(alias: str, finding: Finding) -> Finding:
    finding.message = f"{alias}: {finding.message}"
    return finding


def _analysed(ctx: CheckContext) -> list[tuple[str, SafetyReport, SafetyReport] | Finding]:
    """Per database, the forwards report of the selection predeploy was given (else of the plan pending
    there) and the backwards report of its reversal: one walk for both checks, kept on the context."""
    cached: list[tuple[str, SafetyReport, SafetyReport] | Finding] | None = ctx.__dict__.get("_safety_reports")
    if cached is not None:
        return cached
    found: list[tuple[str, SafetyReport, SafetyReport] | Finding] = []
    selection: Selection | None = ctx.options.get(SELECTION_OPTION)
    if selection is not None and not selection.keys:
        found.append(
            Finding(
                message=f"no migration selected ({selection.description}): {selection.empty_reason}.",
                severity=Severity.INFO,
            )
        )
    else:
        for alias in ctx.databases:
            if selection is not None:
                forwards, backwards = analyse_selection_both(selection, database=alias, loader=ctx.loader)
            else:
                plan = ctx.plan(alias)
                if not plan:
                    continue
                at_end = None
                if MISSING_CHECK_ID in ctx.check_ids and "project_state" not in ctx.__dict__ and not found:
                    # The first plan walked: its end state, carried on to the leaves, is the project
                    # state cicd.migrations.missing needs (see _leaf_state).
                    keys = [step.key for step in plan]
                    at_end = partial(_keep_end, ctx, keys)
                forwards, backwards = analyse_both(plan, database=alias, loader=ctx.loader, at_end=at_end)
            found.append((alias, forwards, backwards))
    ctx.__dict__["_safety_reports"] = found
    return found


def _keep_end(ctx: CheckContext, keys: list[tuple[str, str]], state: ProjectState) -> None:
    ctx.__dict__["_walk_end"] = (state, keys)


def _leaf_state(ctx: CheckContext) -> ProjectState | None:
    """The project state at the leaf migrations, from the walk of the safety analysis, when it runs.

    The analysis walks the pending plan from the state before it; carried on through the applied
    migrations it did not need, that walk ends at the leaf state, which ``makemigrations --check``
    (cicd.migrations.missing) would otherwise walk the whole history again for. The analysis is then
    run when cicd.migrations.missing asks, before its own checks; if it fails, None (the state is
    walked from the first migration) and the safety checks report the failure themselves.
    """
    if not ctx.use_database or not ctx.check_ids & {SAFETY_CHECK_ID, REVERSIBLE_CHECK_ID}:
        return None
    if ctx.options.get(SELECTION_OPTION) is not None:
        return None  # a selection's walk does not end at the leaves
    try:
        _analysed(ctx)
        end = ctx.__dict__.pop("_walk_end", None)
        if end is None:
            return None  # nothing pending
        state, keys = end
        return walking.complete(ctx.loader, state, keys)
    except Exception:  # noqa: BLE001 (reported by the safety checks, which run the analysis again)
        return None


LEAF_STATE_SOURCES.append(_leaf_state)

MISSING_CHECK_ID = "cicd.migrations.missing"
SAFETY_CHECK_ID = "cicd.migrations.safety"
REVERSIBLE_CHECK_ID = "cicd.migrations.reversible"


@register(
    "cicd.migrations.safety", title="Pending migrations are safe to run beside the running release", needs_database=True
)
def migration_safety(ctx: CheckContext) -> Iterator[Finding]:
    """The operations of the migrations pending on each database that break the running release (dropped
    or renamed columns and tables, NOT NULL without a database default, type changes), lock or rewrite
    a table on this vendor (indexes without CONCURRENTLY, constraints validated at once, table copies),
    with numbered safe steps. Operations on tables created by the same plan are not flagged.
    predeploy --migrations-since REF or --migrations APP.NAME,... analyses those migrations instead."""
    for item in _analysed(ctx):
        if isinstance(item, Finding):
            yield item
            continue
        alias, report, _backwards = item
        for finding in report.findings:
            if finding.rule_id not in REVERSIBILITY_RULES:
                yield _prefixed(alias, finding.as_finding())


@register(
    "cicd.migrations.reversible", title="This deploy can be undone by reversing its migrations", needs_database=True
)
def migrations_reversible(ctx: CheckContext) -> Iterator[Finding]:
    """Reverses the pending plan on paper: operations without a reverse (RunPython/RunSQL without
    reverse_code/reverse_sql) make the deploy impossible to roll back except from a backup; a no-op
    reverse takes the schema back and leaves the data as migrated."""
    for item in _analysed(ctx):
        if isinstance(item, Finding):
            yield item
            continue
        alias, _forwards, report = item
        for finding in report.findings:
            if finding.rule_id not in REVERSAL_BLOCKERS:
                continue
            reported = _prefixed(alias, finding.as_finding())
            if finding.extra.get("data_only") and reported.severity == Severity.WARNING:
                # A data clean-up with a no-op reverse: the schema goes back and the data stays cleaned,
                # which the previous release lives with. Shown (rollback_release --plan shows it too), not failing.
                reported.severity = Severity.INFO
                reported.message += " (the migration only changes data: reported, not failing predeploy)"
            yield reported
