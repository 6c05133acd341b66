"""A project's own predeploy checks, loaded through CICD["CHECKS"] in the tests.

Each does nothing unless the test sets ``settings.TEST_CHECK_FINDINGS`` / ``TEST_CHECK_RAISES``.
"""

from django.conf import settings

from django_cicd.checks import Finding, Location, Severity, register


@register("tests.project.echo", title="Echo findings the test planted")
def echo(ctx):
    for message, severity, path, line in getattr(settings, "TEST_CHECK_FINDINGS", []):
        yield Finding(
            message=message,
            severity=Severity[severity],
            hint=f"hint for {message}",
            location=Location(path, line) if path else None,
        )


@register("tests.project.crash", title="A check with a bug")
def crash(ctx):
    if getattr(settings, "TEST_CHECK_RAISES", None):
        raise RuntimeError(settings.TEST_CHECK_RAISES)
    return []


@register("tests.project.slow", title="An opt-in check", default=False)
def slow(ctx):
    import time

    time.sleep(0.02)
    return []
