"""Waivers from ``CICD["WAIVERS"]``: accept a known finding for a while, with a reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django_cicd.report import Finding, Waiver


class WaiverError(ValueError):
    pass


def parse_waiver(raw: Mapping[str, Any], index: int) -> Waiver:
    """One entry of ``CICD["WAIVERS"]``; raises WaiverError with a sentence naming the entry."""
    where = f"CICD['WAIVERS'][{index}]"
    waiver_id = raw.get("id")
    if not isinstance(waiver_id, str) or not waiver_id:
        raise WaiverError(f"{where} needs an 'id': the finding code or check id it waives.")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise WaiverError(f"{where} ({waiver_id}) needs a 'reason': say why this finding is accepted.")
    expires = raw.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            raise WaiverError(f"{where} ({waiver_id}) has expires={expires!r}; write a date as YYYY-MM-DD.") from None
    elif isinstance(expires, dt.datetime):
        expires = expires.date()
    elif expires is not None and not isinstance(expires, dt.date):
        raise WaiverError(f"{where} ({waiver_id}) has expires={expires!r}; write a date as YYYY-MM-DD.")
    environments = raw.get("environments", ())
    if isinstance(environments, str):
        environments = (environments,)
    if not isinstance(environments, (list, tuple)) or not all(isinstance(e, str) for e in environments):
        raise WaiverError(f"{where} ({waiver_id}) has 'environments' that is not a list of names.")
    unknown = sorted(set(raw) - {"id", "reason", "expires", "environments"})
    if unknown:
        raise WaiverError(
            f"{where} ({waiver_id}) has unknown keys {', '.join(unknown)}; allowed: id, reason, expires, environments."
        )
    return Waiver(id=waiver_id, reason=reason.strip(), expires=expires, environments=tuple(environments))


def parse_waivers(raw: Iterable[Mapping[str, Any]]) -> tuple[list[Waiver], list[str]]:
    """All valid waivers and the error sentence of each invalid one."""
    waivers, errors = [], []
    for index, entry in enumerate(raw):
        try:
            waivers.append(parse_waiver(entry, index))
        except WaiverError as exc:
            errors.append(str(exc))
    return waivers, errors


def applies(waiver: Waiver, check_id: str, finding: Finding, environment: str | None, today: dt.date) -> bool:
    if waiver.id not in {check_id, finding.code}:
        return False
    if waiver.environments and environment not in waiver.environments:
        return False
    return not (waiver.expires and waiver.expires < today)


def expired(waivers: Iterable[Waiver], today: dt.date) -> list[Waiver]:
    return [w for w in waivers if w.expires is not None and w.expires < today]
