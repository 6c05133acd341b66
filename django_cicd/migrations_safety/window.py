"""The rollback window: what reversing a plan breaks for the new code, and in which order to go back.

A rollback reverses the migrations with the *new* code (it has the migration files) and then
switches to the previous image; in between, the new release keeps serving on a schema going back
under it. The forward analysis asks what a migration breaks for the old code; this asks, of a
backwards plan, what the reversal breaks for the new code, and derives the order that avoids it:

* ``image_first``: the reversal only takes away what the previous release does not know (a table,
  a column, a uniqueness it relied on): switch the image first, then reverse;
* ``schema_first``: the previous release needs the schema back before it starts (a re-added
  column): reverse first, as rollback_release does, and keep the window short;
* ``stop_writes``: neither order is safe (a rename, or both kinds in one plan): stop the traffic
  that uses it for the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django_cicd.migrations_safety.findings import SafetyFinding, SafetyReport
from django_cicd.migrations_safety.rules import PREFIX

IMAGE_FIRST, SCHEMA_FIRST, STOP_WRITES = "image_first", "schema_first", "stop_writes"

#: The window rules and the order each one asks for.
ORDER_OF_RULE: dict[str, str] = {
    PREFIX + "window_drops_table": IMAGE_FIRST,
    PREFIX + "window_drops_column": IMAGE_FIRST,
    PREFIX + "window_unique": IMAGE_FIRST,
    PREFIX + "window_not_null_column": SCHEMA_FIRST,
    PREFIX + "window_rename": STOP_WRITES,
}
WINDOW_RULES = frozenset(ORDER_OF_RULE)

_SUMMARY = {
    SCHEMA_FIRST: "nothing in the reverse plan breaks the new release while it runs",
    IMAGE_FIRST: (
        "the reversal takes away only what the previous release does not use: switch to the previous image "
        "first, then reverse the migrations"
    ),
    STOP_WRITES: (
        "neither order is safe for every step of the reverse plan: stop the traffic the findings name for the "
        "rollback, or accept errors for its duration"
    ),
}


@dataclass
class RollbackWindow:
    """What the reverse plan breaks for the new code, and the order to roll back in."""

    #: The rollback-window findings (``cicd.safety.window_*``), in the order the reversal meets them.
    findings: list[SafetyFinding] = field(default_factory=list)
    #: ``schema_first`` (the default order is fine; also when there is no finding), ``image_first``
    #: or ``stop_writes``.
    order: str = SCHEMA_FIRST
    #: One sentence saying why.
    summary: str = _SUMMARY[SCHEMA_FIRST]

    def __bool__(self) -> bool:
        return bool(self.findings)

    @property
    def steps(self) -> str:
        """Numbered steps for the whole rollback, in the chosen order."""
        if self.order == IMAGE_FIRST:
            lines = [
                "Switch the service to the previous release's image (your platform's rollback, e.g. docker "
                "service update --image PREVIOUS), and wait until no process of this release serves.",
                "Reverse the migrations with this release's code, which holds their reverse: run "
                "python manage.py rollback_release from this release's image (a one-off container), "
                "without switching the image again.",
            ]
        elif self.order == STOP_WRITES:
            lines = [
                "Stop the traffic that uses the tables named above (maintenance mode, or scale the workers "
                "that write them to zero).",
                "python manage.py rollback_release: it reverses the migrations, then switches the image.",
                "Let the traffic back in once the previous release serves.",
            ]
        else:
            lines = ["python manage.py rollback_release: it reverses the migrations, then switches the image."]
            if self.findings:
                lines.append("Expect the errors the findings describe until the previous image serves.")
        return "\n".join(f"{number}. {line}" for number, line in enumerate(lines, 1))

    def as_dict(self) -> dict[str, object]:
        return {
            "order": self.order,
            "summary": self.summary,
            "steps": self.steps,
            "findings": [finding.as_dict() for finding in self.findings],
        }


def rollback_window(report: SafetyReport) -> RollbackWindow:
    findings = [f for f in report.findings if f.rule_id in WINDOW_RULES and not f.accepted]
    orders = {ORDER_OF_RULE[f.rule_id] for f in findings}
    if not orders:
        return RollbackWindow(findings)
    if STOP_WRITES in orders or orders == {IMAGE_FIRST, SCHEMA_FIRST}:
        order = STOP_WRITES
    elif IMAGE_FIRST in orders:
        order = IMAGE_FIRST
    else:
        order = SCHEMA_FIRST
    summary = _SUMMARY[order]
    if order == SCHEMA_FIRST:
        summary = (
            "the previous release needs the reversed schema before it starts: reverse the migrations first, as "
            "rollback_release does, and keep the window until the previous image serves short"
        )
    return RollbackWindow(findings, order, summary)
