"""Pre-deploy and post-deploy stages of a forward plan (expand/contract), from the safety analysis.

Most "breaks the running code" findings are safe at the right moment: a column the new code no
longer reads can be dropped once the new code is live, a nullable column can be added before.
:func:`classify_stages` puts each migration of a forward plan in one stage:

* ``pre``: safe while the old code serves (no finding that breaks it): run before the rollout;
* ``post``: must wait until the new code is live (a field or model the new code no longer uses is
  dropped, a column becomes NOT NULL, a unique constraint is added): run after the health check;
* ``blocked``: neither stage is safe (a rename, a type change, a NOT NULL column without a database
  default): the expand/contract steps of its findings say how to split it.

A migration may declare its stage, which wins over the analysis: ``cicd_stage = "pre"`` or
``"post"`` on the Migration class, and, for projects that use them, django-syzygy's
``stage = Stage.PRE_DEPLOY`` / ``Stage.POST_DEPLOY`` and django-safemigrate's
``safe = Safe.before_deploy()`` / ``Safe.after_deploy()`` / ``Safe.always()`` (read by value, neither
package needs to be installed). The graph has the last word: a migration that depends on a ``post``
one is ``post`` too, on a ``blocked`` one ``blocked``, whatever it declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration

from django_cicd import planning
from django_cicd.migrations_safety.analysis import analyse_plan
from django_cicd.migrations_safety.findings import SafetyFinding, SafetyReport
from django_cicd.migrations_safety.rules import PREFIX

PRE, POST, BLOCKED = "pre", "post", "blocked"
STAGES = (PRE, POST, BLOCKED)
#: The attribute of a Migration class that declares its stage.
STAGE_ATTRIBUTE = "cicd_stage"

#: Findings that are safe once the new code is live (it no longer uses what they drop, it no longer
#: writes what they forbid).
POST_RULES = frozenset(PREFIX + name for name in ("remove_field", "delete_model", "alter_field_null", "add_unique"))
#: Findings that break the old code before and the new code after: split them (expand/contract).
BLOCKED_RULES = frozenset(
    PREFIX + name
    for name in ("rename_field", "rename_model", "alter_model_table", "alter_field_type", "add_field_not_null")
)

_WHY = {
    POST: "safe once the new code, which no longer needs what it changes, is live",
    BLOCKED: "breaks the old code if run before the rollout and the new code if run after",
}
_SYZYGY = {"pre_deploy": PRE, "post_deployment": POST, "post_deploy": POST}
_SAFEMIGRATE = {"before_deploy": PRE, "after_deploy": POST, "always": PRE}


class StageDeclarationError(ValueError):
    """A migration declares a stage that is not one (``cicd_stage = "later"``)."""


@dataclass
class StageDecision:
    """The stage of one migration of the plan, and why."""

    step: planning.PlanStep
    stage: str
    #: One sentence per reason, in the order they were found.
    reasons: list[str] = field(default_factory=list)
    #: The stage the migration declares ("pre"/"post"), or None when the analysis decided.
    declared: str | None = None
    #: How it is declared: "cicd_stage = 'post'", "stage = Stage.POST_DEPLOY (django-syzygy)"...
    declared_by: str | None = None
    #: The analysis findings (not accepted) that decided the stage.
    findings: list[SafetyFinding] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.step.label

    @property
    def steps(self) -> str:
        """For a blocked migration: the expand/contract steps of the findings that block it."""
        blocking = [f for f in self.findings if f.rule_id in BLOCKED_RULES]
        return "\n\n".join(f"{f.rule_id} ({f.table or '?'}):\n{f.hint}" for f in blocking)

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": self.label,
            "stage": self.stage,
            "reasons": self.reasons,
            "declared": self.declared,
            "declared_by": self.declared_by,
            "rules": [f.rule_id for f in self.findings],
        }


@dataclass
class StagePlan:
    """Every migration of a forward plan, in plan order, with its stage."""

    decisions: list[StageDecision]
    #: The forwards analysis the stages were derived from.
    report: SafetyReport

    def _steps(self, stage: str) -> list[planning.PlanStep]:
        return [d.step for d in self.decisions if d.stage == stage]

    @property
    def pre(self) -> list[planning.PlanStep]:
        """What ``safe_migrate --stage pre`` applies, in plan order (closed under dependencies)."""
        return self._steps(PRE)

    @property
    def post(self) -> list[planning.PlanStep]:
        """What ``safe_migrate --stage post`` applies after the rollout, in plan order."""
        return self._steps(POST)

    @property
    def blocked(self) -> list[planning.PlanStep]:
        """What neither stage can run safely; :attr:`StageDecision.steps` says how to split it."""
        return self._steps(BLOCKED)

    @property
    def reasons(self) -> dict[str, list[str]]:
        return {d.label: d.reasons for d in self.decisions}

    def decision(self, label: str) -> StageDecision:
        return next(d for d in self.decisions if d.label == label)

    def stage_of(self, label: str) -> str:
        return self.decision(label).stage

    def as_dict(self) -> dict[str, Any]:
        return {stage: [d.as_dict() for d in self.decisions if d.stage == stage] for stage in STAGES}


def classify_stages(
    plan: Iterable[planning.PlanStep],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    report: SafetyReport | None = None,
    table_sizes: bool = True,
) -> StagePlan:
    """The stage of each migration of the forward ``plan`` on ``database``.

    ``report``: the forwards :class:`SafetyReport` of this very plan, when the caller has one (the
    safety gate does), so the plan is not analysed twice.
    """
    steps = list(plan)
    backwards = [step.label for step in steps if step.backwards]
    if backwards:
        raise ValueError(f"classify_stages() takes a forward plan; these steps are backwards: {', '.join(backwards)}")
    loader = loader if loader is not None else planning.load_graph()
    if report is None:
        report = analyse_plan(steps, database=database, loader=loader, table_sizes=table_sizes)
    by_migration: dict[str, list[SafetyFinding]] = {}
    for finding in report.findings:
        if not finding.accepted and finding.rule_id in POST_RULES | BLOCKED_RULES:
            by_migration.setdefault(finding.migration_label, []).append(finding)
    decisions: dict[tuple[str, str], StageDecision] = {}
    for step in steps:
        decision = _own_stage(step, by_migration.get(step.label, []))
        node = loader.graph.node_map.get(step.key)
        parents = sorted(parent.key for parent in node.parents) if node is not None else []
        for parent in parents:
            earlier = decisions.get(parent)
            if earlier is None or _rank(earlier.stage) <= _rank(decision.stage):
                continue
            decision.reasons.append(
                f"depends on {earlier.label}, which is {earlier.stage}"
                + (": a declaration cannot run it before its dependency" if decision.declared else "")
            )
            decision.stage = earlier.stage
        decisions[step.key] = decision
    return StagePlan([decisions[step.key] for step in steps], report)


def _rank(stage: str) -> int:
    return STAGES.index(stage)


def _own_stage(step: planning.PlanStep, findings: list[SafetyFinding]) -> StageDecision:
    declared, declared_by = declared_stage(step.migration)
    if declared is not None:
        reasons = [f"declared {declared} ({declared_by})"]
        if findings:
            rules = ", ".join(dict.fromkeys(f.rule_id for f in findings))
            reasons[0] += f"; the analysis found {rules}, which the declaration overrides"
        return StageDecision(step, declared, reasons, declared, declared_by, findings)
    blocked = [f for f in findings if f.rule_id in BLOCKED_RULES]
    stage = BLOCKED if blocked else POST if findings else PRE
    if stage == PRE:
        return StageDecision(step, PRE, ["nothing in it breaks the code that is running"])
    reasons = [f"{f.rule_id}: {_without_label(f)}; {_WHY[stage]}" for f in (blocked or findings)]
    return StageDecision(step, stage, reasons, findings=findings)


def _without_label(finding: SafetyFinding) -> str:
    return finding.message.removeprefix(f"{finding.migration_label}: ").rstrip(".")


def declared_stage(migration: Migration) -> tuple[str | None, str | None]:
    """The stage ``migration`` declares and how, or (None, None).

    Raises :class:`StageDeclarationError` for a ``cicd_stage`` that is neither "pre" nor "post".
    """
    label = f"{migration.app_label}.{migration.name}"
    ours = getattr(migration, STAGE_ATTRIBUTE, None)
    if ours is not None:
        if ours in (PRE, POST):
            return ours, f"{STAGE_ATTRIBUTE} = {ours!r}"
        raise StageDeclarationError(f"{label} declares {STAGE_ATTRIBUTE} = {ours!r}; write 'pre' or 'post'.")
    syzygy = getattr(migration, "stage", None)
    value = getattr(syzygy, "value", syzygy)
    if isinstance(value, str) and value in _SYZYGY:
        name = getattr(syzygy, "name", value)
        return _SYZYGY[value], f"stage = Stage.{name} (django-syzygy)"
    safe = getattr(migration, "safe", None)
    if safe is not None:
        when = getattr(safe, "when", None)
        if when is None and callable(safe) and getattr(safe, "__name__", None) in _SAFEMIGRATE:
            when = safe.__name__  # Safe.before_deploy without the call
        elif when is None:
            when = safe  # django-safemigrate < 5: Safe was an enum
        value = getattr(when, "value", when)
        if isinstance(value, str) and value in _SAFEMIGRATE:
            return _SAFEMIGRATE[value], f"safe = Safe.{value}() (django-safemigrate)"
    return None, None
