"""Which text renderer draws which command's result."""

from __future__ import annotations

from typing import Any

from django.core.management.color import Style


def text(result: Any, style: Style, verbosity: int) -> str:
    name = type(result).__name__
    if name == "MigrateResult":
        from django_cicd.reporting.runs import migrate_text

        return migrate_text(result, style, verbosity)
    if name == "PlannedRun":
        from django_cicd.reporting.runs import plan_text

        return plan_text(result, style, verbosity)
    if name == "RollbackResult":
        from django_cicd.reporting.runs import rollback_text

        return rollback_text(result, style, verbosity)
    if name == "ReleaseListing":
        from django_cicd.reporting.ledger import releases_text

        return releases_text(result, style, verbosity)
    if name == "ContractReport":
        from django_cicd.reporting.env import contract_text

        return contract_text(result, style, verbosity)
    if name == "ScaffoldReport":
        from django_cicd.reporting.scaffold import cicd_init_text

        return cicd_init_text(result, style, verbosity)
    if name == "SendTestResult":
        from django_cicd.reporting.sentry import sentry_check_text

        return sentry_check_text(result, style, verbosity)
    if name == "RehearsalReport":
        return str(result.render_text())
    render = getattr(result, "render_text", None)
    if render is None:
        raise TypeError(f"no text renderer for {name}")
    return str(render(style, verbosity))
