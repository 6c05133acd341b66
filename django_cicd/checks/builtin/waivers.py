from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.checks.waivers import expired, parse_waivers
from django_cicd.conf import cicd_settings
from django_cicd.report import Finding, Severity


@register("cicd.waivers", title="Waivers are valid and current")
def waivers_valid(ctx: CheckContext) -> Iterator[Finding]:
    """Every entry of ``CICD["WAIVERS"]`` has an id and a reason, and none has expired.

    An expired waiver fails the run even when the problem it covered is gone: the date was a promise
    to look again. Waivers that matched nothing are listed as information.
    """
    today = ctx.options.get("today") or dt.date.today()
    assert isinstance(today, dt.date)
    waivers, errors = parse_waivers(cicd_settings.WAIVERS)
    for error in errors:
        yield Finding(message=error, code="cicd.waivers.invalid", hint="Fix the entry in CICD['WAIVERS'].")
    for waiver in expired(waivers, today):
        yield Finding(
            message=f"waiver {waiver.id!r} expired on {waiver.expires}: {waiver.reason}",
            severity=Severity.ERROR,
            code="cicd.waivers.expired",
            hint="Fix the finding it covers and remove the waiver, or extend 'expires' with a new reason.",
        )
