"""Pre-deploy and post-deploy stages, classified from the analysis (issue 13, part 4).

``catalog`` and ``orders`` run the packages ``tests/scenarios/safety/stages`` and ``stages_orders``;
their 0001 migrations count as applied. Nothing is migrated.
"""

from __future__ import annotations

import enum

import pytest
from django.db import migrations
from django.test import override_settings

from django_cicd import planning
from django_cicd.migrations_safety.stages import (
    BLOCKED,
    POST,
    PRE,
    StageDeclarationError,
    StagePlan,
    classify_stages,
    declared_stage,
)

pytestmark = pytest.mark.django_db(databases="__all__")

MODULES = {"catalog": "tests.scenarios.safety.stages", "orders": "tests.scenarios.safety.stages_orders"}


def classify(applied_initial: bool = True, **kwargs) -> StagePlan:
    with override_settings(MIGRATION_MODULES=MODULES):
        loader = planning.load_graph()
        applied = {key for key in loader.graph.nodes if key[0] not in MODULES}
        if applied_initial:
            applied |= {("catalog", "0001_initial"), ("orders", "0001_initial")}
        return classify_stages(planning.forward_plan(loader, applied), loader=loader, **kwargs)


def test_each_migration_gets_the_stage_the_analysis_and_the_graph_give_it():
    stages = classify()
    assert [step.label for step in stages.pre] == ["catalog.0002_gadget_colour", "orders.0002_remove_order_ref"]
    assert [step.label for step in stages.post] == [
        "catalog.0003_remove_gadget_legacy",
        "catalog.0004_fill_colours",
        "catalog.0005_gadget_nickname_not_null",
        "orders.0003_order_note",
    ]
    assert [step.label for step in stages.blocked] == ["catalog.0006_rename_gadget_name"]
    reasons = stages.reasons
    assert reasons["catalog.0002_gadget_colour"] == ["nothing in it breaks the code that is running"]
    assert reasons["catalog.0003_remove_gadget_legacy"] == [
        'cicd.safety.remove_field: RemoveField drops column "catalog_gadget"."legacy" (Gadget.legacy) while the '
        "running release still reads and writes it; its data is lost; safe once the new code, which no longer "
        "needs what it changes, is live"
    ]
    assert reasons["catalog.0005_gadget_nickname_not_null"][0].startswith("cicd.safety.alter_field_null: ")


def test_a_pre_migration_that_depends_on_a_post_one_is_post():
    decision = classify().decision("catalog.0004_fill_colours")
    assert (decision.stage, decision.declared) == (POST, PRE)
    assert decision.reasons == [
        "declared pre (cicd_stage = 'pre')",
        "depends on catalog.0003_remove_gadget_legacy, which is post: a declaration cannot run it before its "
        "dependency",
    ]


def test_a_rename_is_blocked_with_the_expand_contract_steps():
    decision = classify().decision("catalog.0006_rename_gadget_name")
    assert decision.stage == BLOCKED
    assert decision.reasons[0].endswith("breaks the old code if run before the rollout and the new code if run after")
    steps = decision.steps.splitlines()
    assert steps[0] == "cicd.safety.rename_field (catalog_gadget):"
    assert steps[1].startswith('1. To rename in the code only: keep the column, give the field db_column="name"')


def test_django_safemigrate_and_django_syzygy_declarations_are_honoured():
    stages = classify()
    safemigrate = stages.decision("orders.0002_remove_order_ref")
    assert (safemigrate.stage, safemigrate.declared_by) == (PRE, "safe = Safe.before_deploy() (django-safemigrate)")
    assert safemigrate.reasons == [
        "declared pre (safe = Safe.before_deploy() (django-safemigrate)); the analysis found "
        "cicd.safety.remove_field, which the declaration overrides"
    ]
    syzygy = stages.decision("orders.0003_order_note")
    assert (syzygy.stage, syzygy.declared_by) == (POST, "stage = Stage.POST_DEPLOY (django-syzygy)")


def test_an_accepted_finding_does_not_postpone_its_migration(cicd_settings):
    cicd_settings(MIGRATION_SAFETY={"catalog": {"accept": {"cicd.safety.remove_field": "legacy is unused"}}})
    stages = classify()
    assert stages.stage_of("catalog.0003_remove_gadget_legacy") == PRE
    assert stages.stage_of("catalog.0004_fill_colours") == PRE


def test_tables_the_plan_creates_run_everything_before_the_rollout():
    stages = classify(applied_initial=False)
    assert [step.label for step in stages.blocked] == []
    # Only the declarations move anything after the rollout.
    assert [step.label for step in stages.post] == ["orders.0003_order_note"]


def test_the_report_given_is_used_and_the_plan_must_go_forwards():
    with override_settings(MIGRATION_MODULES=MODULES):
        loader = planning.load_graph()
        plan = planning.forward_plan(loader, set())
        first = classify_stages(plan, loader=loader)
        again = classify_stages(plan, loader=loader, report=first.report)
        assert again.report is first.report
        with pytest.raises(ValueError, match=r"^classify_stages\(\) takes a forward plan; these steps are backwards: "):
            classify_stages([planning.PlanStep(plan[0].migration, backwards=True)], loader=loader)


def migration(**attributes) -> migrations.Migration:
    return type("Migration", (migrations.Migration,), attributes)("0099_x", "catalog")


class Stage(enum.Enum):
    PRE_DEPLOY = "pre_deploy"
    POST_DEPLOY = "post_deployment"


class When(enum.Enum):
    ALWAYS = "always"
    BEFORE_DEPLOY = "before_deploy"
    AFTER_DEPLOY = "after_deploy"


def test_declared_stage_reads_every_spelling():
    assert declared_stage(migration()) == (None, None)
    assert declared_stage(migration(cicd_stage="post")) == (POST, "cicd_stage = 'post'")
    assert declared_stage(migration(stage=Stage.PRE_DEPLOY)) == (PRE, "stage = Stage.PRE_DEPLOY (django-syzygy)")
    assert declared_stage(migration(stage="post_deployment"))[0] == POST
    # django-safemigrate 5+: Safe(when=When...); before 5: the When values themselves.
    assert declared_stage(migration(safe=type("Safe", (), {"when": When.AFTER_DEPLOY})()))[0] == POST
    assert declared_stage(migration(safe=When.ALWAYS)) == (PRE, "safe = Safe.always() (django-safemigrate)")
    # Some other meaning of "stage" is not a declaration.
    assert declared_stage(migration(stage=3)) == (None, None)


def test_an_invalid_declaration_is_an_error_naming_the_fix():
    with pytest.raises(StageDeclarationError) as raised:
        declared_stage(migration(cicd_stage="later"))
    assert str(raised.value) == "catalog.0099_x declares cicd_stage = 'later'; write 'pre' or 'post'."
