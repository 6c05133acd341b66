from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured

from django_cicd import sentry
from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import SkipCheck, register
from django_cicd.conf import cicd_settings
from django_cicd.report import Finding, Severity


@register("cicd.sentry.config", title="Sentry is set up: DSN, release and environment")
def sentry_config(ctx: CheckContext) -> Iterator[Finding]:
    """In the stages of ``CICD["SENTRY_STAGES"]`` (none by default; e.g. staging, production): the DSN is set
    and parses, the release is known (so errors point at a commit), and Sentry's environment is
    explicit and matches the stage. Elsewhere the same problems are warnings, and no DSN skips it.
    """
    stage = ctx.environment
    required = stage is not None and stage in cicd_settings.SENTRY_STAGES
    severity = Severity.ERROR if required else Severity.WARNING
    try:
        setup = sentry.resolve_setup(stage=stage, **sentry.init_arguments())
    except ImproperlyConfigured as exc:
        yield Finding(message=str(exc), code="cicd.sentry.variables")
        return
    if not setup.enabled:
        if not required:
            raise SkipCheck(f"SENTRY_DSN is not set and stage {stage or 'unset'} does not require Sentry")
        yield Finding(
            message=f"SENTRY_DSN is not set, and stage {stage} requires Sentry (CICD['SENTRY_STAGES'])",
            hint="Set SENTRY_DSN in the deploy environment and call django_cicd.sentry.init_sentry() in the settings.",
            code="cicd.sentry.dsn_missing",
        )
        return
    assert setup.dsn is not None
    try:
        problem = sentry.parse_dsn_problem(setup.dsn)
    except ImproperlyConfigured as exc:  # sentry-sdk is not installed
        yield Finding(message=str(exc), code="cicd.sentry.sdk_missing")
        return
    if problem is not None:
        yield Finding(
            message=f"SENTRY_DSN is not a valid Sentry DSN: {problem}",
            hint="Copy the DSN from the Sentry project's Client Keys page.",
            code="cicd.sentry.dsn_invalid",
        )
    if setup.release is None:
        yield Finding(
            message="no release is known: errors would not point at a commit",
            severity=severity,
            hint=(
                "Set SENTRY_RELEASE, or let CI's commit variable through (GITHUB_SHA, CI_COMMIT_SHA, ...), or "
                "write the commit to a REVISION file in the image's working directory at build time."
            ),
            code="cicd.sentry.release_unknown",
        )
    if setup.environment_source in {"fallback", "CI"}:
        yield Finding(
            message=f"Sentry's environment is not explicit: it would be {setup.environment!r}",
            severity=severity,
            hint="Set DJANGO_ENV (the stage) or SENTRY_ENVIRONMENT in the deploy environment.",
            code="cicd.sentry.environment_implicit",
        )
    elif stage is not None and setup.environment != stage:
        yield Finding(
            message=(
                f"Sentry's environment is {setup.environment!r} (from {setup.environment_source}) "
                f"but the stage being deployed is {stage!r}"
            ),
            severity=severity,
            hint="Unset SENTRY_ENVIRONMENT, or make it match the stage, so events are filed where they belong.",
            code="cicd.sentry.environment_mismatch",
        )
    yield Finding(
        message=(
            f"Sentry: {setup.dsn_host}, environment {setup.environment} (from {setup.environment_source}), "
            f"release {setup.release or 'unknown'}"
            + (f" (from {setup.release_source})" if setup.release_source else "")
        ),
        severity=Severity.INFO,
        code="cicd.sentry.summary",
    )
