"""Text lines every command that changes a database prints about its run (safe_migrate,
rollback_release): migrations, backup, recovery, where the database is, notes, the ledger row."""

from __future__ import annotations

from collections.abc import Iterable

from django_cicd.planning import format_state
from django_cicd.runs import RunResult, StepResult


def step_line(step: StepResult, status: str | None = None) -> str:
    seconds = f"{step.seconds:8.3f}s" if step.seconds is not None else " " * 9
    return f"  {status or step.status:<8} {seconds}  {step.label}"


def backup_line(result: RunResult) -> list[str]:
    backup = result.backup
    if backup is None:
        return []
    return [
        f"  backup   {backup.name} ({backup.size} bytes, sha256 {backup.sha256[:16]}, verified) in {backup.storage}"
    ]


def outcome_lines(result: RunResult, notes: Iterable[str] = ()) -> list[str]:
    """After the steps: what recovery did, where the database is, the error, the notes, the ledger row.
    (The migrations recovery ran are the steps marked ``undone``; JSON lists them as recovery_steps.)"""
    lines = []
    if result.recovery:
        lines.append(f"  recovery {result.recovery}")
    if result.state_after is not None:
        lines.append(f"  after    {format_state(result.state_after) or '(no migrations)'}")
    if result.error:
        lines.append(f"  error    {result.error}")
    lines.extend(f"  note     {note}" for note in [*notes, *result.notes])
    if result.ledger_id is not None:
        lines.append(f"  ledger   row {result.ledger_id} (manage.py releases --database {result.database})")
    return lines
