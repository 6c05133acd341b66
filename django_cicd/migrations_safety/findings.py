"""What the analysis returns: one :class:`SafetyFinding` per risk, gathered in a :class:`SafetyReport`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Any

from django_cicd.migrations_safety.rules import PREFIX
from django_cicd.redaction import redact
from django_cicd.report import Finding, Location, Severity, Waiver
from django_cicd.vendors import TableSize

if TYPE_CHECKING:
    from django_cicd.migrations_safety.window import RollbackWindow

#: The status of a finding, as reports show it.
ACCEPTED, BLOCKED = "accepted", "blocked"


@dataclass
class SafetyFinding:
    """One risk found in one operation of a plan."""

    rule_id: str
    severity: Severity
    app_label: str
    migration_name: str
    #: Index of the operation in ``Migration.operations`` (None for a finding about the migration).
    operation_index: int | None
    #: ``operation.describe()``.
    operation: str
    message: str
    #: Numbered safe steps with the real names.
    hint: str
    #: "deploy" (breaks or locks while migrating) or "rollback" (bites when the plan is reversed).
    when: str
    #: The migration file and the line of the operation (read it as :attr:`location`), or a function
    #: that finds them: the analysis parses a file for its line numbers only when a finding is shown.
    where: InitVar[Location | Callable[[], Location | None] | None] = None
    #: Why the risk is accepted: the acceptance's reason, or "--allow-unsafe: ..." (see
    #: :meth:`SafetyReport.accept_unsafe`). An accepted finding never blocks.
    accepted_reason: str | None = None
    #: False when the SQL of this migration could not be rendered: only the operation was analysed.
    sql_rendered: bool = True
    #: The table and column at risk (dropped on rollback, locked, rewritten), when there is one.
    table: str | None = None
    column: str | None = None
    #: The statements of the operation, as the schema editor rendered them for the vendor.
    sql: tuple[str, ...] = ()
    #: The migration file lives outside the project (an installed package): its findings are
    #: accepted in ``CICD["MIGRATION_SAFETY"]``, not in the file.
    third_party: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self, where: Location | Callable[[], Location | None] | None) -> None:
        self._where = where

    @property
    def location(self) -> Location | None:
        if callable(self._where):
            self._where = self._where()
        return self._where

    @property
    def migration_label(self) -> str:
        return f"{self.app_label}.{self.migration_name}"

    @property
    def accepted(self) -> bool:
        return self.accepted_reason is not None

    @property
    def blocking(self) -> bool:
        return not self.accepted and self.severity >= Severity.ERROR

    @property
    def status(self) -> str:
        """``accepted`` (with :attr:`accepted_reason`), ``blocked`` (an error nobody accepted), or the
        severity's label (``warning``, ``info``) for what is reported and does not block."""
        if self.accepted:
            return ACCEPTED
        return BLOCKED if self.blocking else self.severity.label

    def as_finding(self) -> Finding:
        return Finding(
            message=self.message,
            severity=self.severity,
            hint=self.hint,
            code=self.rule_id,
            location=self.location,
            waiver=Waiver(id=self.rule_id, reason=self.accepted_reason) if self.accepted_reason else None,
            extra={
                "migration": self.migration_label,
                "operation_index": self.operation_index,
                "operation": self.operation,
                "when": self.when,
                "status": self.status,
                "table": self.table,
                "column": self.column,
                "sql_rendered": self.sql_rendered,
                "sql": list(self.sql),
                **self.extra,
            },
        )

    def as_dict(self) -> dict[str, Any]:
        """The finding for a command's JSON report (messages redacted)."""
        return {
            "rule": self.rule_id,
            "severity": self.severity.label,
            "status": self.status,
            "accepted_reason": redact(self.accepted_reason) if self.accepted_reason else None,
            "migration": self.migration_label,
            "operation": self.operation,
            "message": redact(self.message),
            "hint": redact(self.hint),
            "table": self.table,
            "column": self.column,
            "location": self.location.as_dict() if self.location else None,
            "third_party": self.third_party,
            **{key: self.extra[key] for key in ("table_rows", "table_bytes", "table_size") if key in self.extra},
        }


@dataclass
class SafetyReport:
    database: str
    vendor: str
    direction: str
    #: The migrations analysed, in the order of the plan.
    migrations: list[str]
    findings: list[SafetyFinding] = field(default_factory=list)
    #: ``{migration label: error}`` for each migration whose SQL could not be rendered.
    not_rendered: dict[str, str] = field(default_factory=dict)
    #: The plan starts from an empty database (no migration it depends on is applied): nothing
    #: is running, every table is new, so no lock or compatibility rule applies (forwards only).
    first_deploy: bool = False
    #: Sizes read from the database for the lock and rewrite findings, by table name before the plan.
    table_sizes: dict[str, TableSize] = field(default_factory=dict)
    #: Why no size was read, when none was (no database asked, or the query failed).
    sizes_note: str | None = None

    @property
    def blocking(self) -> list[SafetyFinding]:
        """Findings not accepted with severity ERROR or above: safe_migrate stops on these."""
        return [f for f in self.findings if f.blocking]

    @property
    def accepted(self) -> list[SafetyFinding]:
        return [f for f in self.findings if f.accepted]

    @property
    def irreversible(self) -> list[SafetyFinding]:
        """Operations that make the plan impossible to reverse (no reverse at all)."""
        return [f for f in self.findings if f.rule_id == PREFIX + "irreversible"]

    @property
    def noop_reverses(self) -> list[SafetyFinding]:
        return [f for f in self.findings if f.rule_id == PREFIX + "noop_reverse"]

    @property
    def data_loss(self) -> list[SafetyFinding]:
        """Columns and tables a backwards plan drops (``table`` and ``column`` set): rows to count."""
        rules = {PREFIX + "reverse_drops_column", PREFIX + "reverse_drops_table"}
        return [f for f in self.findings if f.rule_id in rules]

    @property
    def rollback_window(self) -> RollbackWindow:
        """What reversing this (backwards) plan breaks for the new code that keeps serving meanwhile,
        and in which order to switch the image and reverse the schema. Empty for a forwards plan."""
        from django_cicd.migrations_safety.window import rollback_window

        return rollback_window(self)

    def accept_unsafe(self, reason: str = "--allow-unsafe") -> list[SafetyFinding]:
        """Accept every blocking finding for this run (what ``safe_migrate --allow-unsafe`` does):
        each is then reported as accepted, with ``reason``. Returns the findings it accepted."""
        accepted = self.blocking
        for finding in accepted:
            finding.accepted_reason = reason
        return accepted

    def as_findings(self) -> list[Finding]:
        return [f.as_finding() for f in self.findings]
