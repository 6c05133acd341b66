from __future__ import annotations

import os
from collections.abc import Iterator

from django_cicd import env
from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import SkipCheck, register
from django_cicd.report import Finding


@register("cicd.env.contract", title="The environment satisfies the settings contract for the target stage")
def env_contract(ctx: CheckContext) -> Iterator[Finding]:
    """Reads every declared variable again, for the stage being deployed to and outside the build
    phase, and reports each missing or invalid one (secrets by name only).

    The settings may have been imported in the build phase (``DJANGO_BUILD=1``), where runtime
    secrets are placeholders; this check is where they are enforced before the deploy.
    """
    contract = env.get_contract()
    if contract is None:
        raise SkipCheck(
            "no environment contract: the settings do not call Contract.load() and CICD['ENV_CONTRACT'] is unset"
        )
    stage = ctx.environment
    if stage is not None and stage not in contract.stages:
        yield Finding(
            message=f"the target stage {stage!r} is not a stage of the contract ({', '.join(contract.stages)})",
            hint="Pass --environment with one of the contract's stages, or add the stage to the contract.",
            code="cicd.env.stage",
        )
        return
    build_value = os.environ.get(contract.build_variable, "").strip()
    if build_value and env._parse_bool(build_value):
        yield Finding(
            message=f"{contract.build_variable} is set at deploy time: runtime secrets would be placeholders",
            hint=(
                f"Set {contract.build_variable}=1 only for the build step (a Docker build ARG or a RUN prefix), "
                "never as an ENV of the image."
            ),
            code="cicd.env.build_phase",
        )
    reading = contract.read(stage=stage, build=False)
    for problem in reading.problems:
        yield Finding(
            message=problem.message,
            hint=problem.help or f"Set {problem.name} (or {problem.name}_FILE) in the deploy environment.",
            code=f"cicd.env.{problem.kind}",
        )
