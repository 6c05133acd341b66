"""The one Report object that every predeploy output format renders.

A :class:`Report` holds one :class:`CheckResult` per check that was selected; each result holds the
:class:`Finding` objects its check produced. Whether a finding blocks the build is decided here,
from its severity, the fail level and the waivers, so that every renderer agrees.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django_cicd import __version__
from django_cicd.exit_codes import ExitCode

#: Version of the JSON document produced by ``--format json``; bumped on incompatible changes.
JSON_SCHEMA_VERSION = 2


class Severity(enum.IntEnum):
    """The levels of Django's system check framework, so its messages keep theirs."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40
    CRITICAL = 50

    @classmethod
    def parse(cls, name: str) -> Severity:
        try:
            return cls[name.upper()]
        except KeyError:
            choices = ", ".join(level.name.lower() for level in cls)
            raise ValueError(f"unknown level {name!r}; choose one of {choices}") from None

    @classmethod
    def parse_fail_level(cls, name: str) -> Severity:
        """A fail level: warning, error or critical. Lower levels would fail every run, since passing
        checks report what they saw as information."""
        level = cls.parse(name)
        if level < cls.WARNING:
            raise ValueError(f"fail level {name!r} is too low; choose one of warning, error, critical")
        return level

    @classmethod
    def nearest(cls, value: int) -> Severity:
        """The standard level at or below a custom one (a third-party check may use 35)."""
        candidates = [level for level in cls if level <= value]
        return max(candidates) if candidates else cls.DEBUG

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    #: The check itself raised: the build cannot be judged, so it counts as failed.
    ERROR = "error"


@dataclass(frozen=True)
class Location:
    path: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line}


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    expires: dt.date | None = None
    environments: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
            "environments": list(self.environments),
        }


@dataclass
class Finding:
    """One problem (or note) a check found.

    ``code`` identifies the kind of problem: Django's own message id (``security.W004``) for system
    checks, ``cicd.<area>.<name>`` or a rule id for ours. It defaults to the id of the check.
    """

    message: str
    severity: Severity = Severity.ERROR
    hint: str | None = None
    code: str | None = None
    location: Location | None = None
    #: Set when a waiver or an in-migration acceptance covers this finding.
    waiver: Waiver | None = None
    #: Set by the runner: does this finding fail the build at the chosen fail level?
    blocking: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "hint": self.hint,
            "location": self.location.as_dict() if self.location else None,
            "blocking": self.blocking,
            "waiver": self.waiver.as_dict() if self.waiver else None,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    duration: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    skipped_reason: str | None = None
    description: str = ""

    @property
    def blocking_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "duration_ms": round(self.duration * 1000, 1),
            "skipped_reason": self.skipped_reason,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class Report:
    command: str
    fail_level: Severity
    results: list[CheckResult] = field(default_factory=list)
    environment: str | None = None
    databases: list[str] = field(default_factory=list)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    duration: float = 0.0

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status in (Status.FAILED, Status.ERROR)]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.NO if self.failed else ExitCode.OK

    @property
    def passed(self) -> bool:
        return self.exit_code == ExitCode.OK

    def findings(self) -> Iterable[tuple[CheckResult, Finding]]:
        for result in self.results:
            for finding in result.findings:
                yield result, finding

    def summary(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for result in self.results:
            counts[result.status.value] += 1
        all_findings = [f for _, f in self.findings()]
        return {
            "checks": len(self.results),
            **counts,
            "findings": len(all_findings),
            "blocking": sum(f.blocking for f in all_findings),
            "waived": sum(f.waiver is not None for f in all_findings),
        }

    def summary_line(self) -> str:
        s = self.summary()
        verdict = "FAILED" if self.failed else "PASSED"
        parts = [f"{s['failed']} failed", f"{s['error']} errored", f"{s['passed']} passed"]
        parts.append(f"{s['skipped']} skipped")
        return (
            f"predeploy {verdict}: {', '.join(parts)}; {s['findings']} findings "
            f"({s['blocking']} blocking, {s['waived']} waived) at fail level {self.fail_level.label} "
            f"in {self.duration:.2f}s"
        )

    def as_dict(self) -> dict[str, Any]:
        from django_cicd.results import envelope

        return {
            **envelope(
                "predeploy-report",
                version=JSON_SCHEMA_VERSION,
                command=self.command,
                status="passed" if self.passed else "failed",
                exit_code=int(self.exit_code),
                summary=self.summary_line(),
            ),
            "tool": {"name": "django-cicd", "version": __version__},
            "fail_level": self.fail_level.label,
            "environment": self.environment,
            "databases": self.databases,
            "started_at": self.started_at.isoformat(),
            "duration_ms": round(self.duration * 1000, 1),
            "counts": self.summary(),
            "checks": [r.as_dict() for r in self.results],
        }
