"""Text of the commands that change a database through the run engine (safe_migrate, rollback_release)
and of their plans, and their progress lines.

Each fact is printed once. Progress says, migration by migration, what is happening while it happens;
the report after it does not list the migrations again (``--verbosity 2`` does, and adds the
"applying ..." lines and the full migration states). At the default verbosity a state is shown as the
apps it changes; ``--verbosity 0`` prints the summary (and what went wrong) only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.management.color import Style

from django_cicd.planning import format_state
from django_cicd.runs import RunResult, StepResult


def step_line(step: StepResult, status: str | None = None) -> str:
    seconds = f"{step.seconds:8.3f}s" if step.seconds is not None else " " * 9
    return f"  {status or step.status:<8} {seconds}  {step.label}"


def progress_line(action: str, step: StepResult, verbosity: int) -> str | None:
    """The line for one progress event, or None when this verbosity does not show it."""
    if verbosity < 1 or (action.endswith("_start") and verbosity < 2):
        return None
    seconds = f" ({step.seconds:.3f}s)" if step.seconds is not None else ""
    if action.endswith("_success") and step.status == "faked":
        return f"  faked    {step.label}{seconds}"
    lines = {
        "apply_start": f"  applying  {step.label} ...",
        "apply_success": f"  applied   {step.label}{seconds}",
        "apply_failed": f"  FAILED    {step.label}{seconds}",
        "unapply_start": f"  reversing {step.label} ...",
        "unapply_success": f"  reversed  {step.label}{seconds}",
        "unapply_failed": f"  FAILED    {step.label}{seconds}",
    }
    if step.status == "undone" and action.endswith("_success"):
        return f"  undone    {step.label}{seconds}"
    return lines.get(action)


class Progress:
    """Progress lines of a run. At verbosity 1, consecutive migrations of one app that went well are
    said in one line once the run moves on ("applied   auth.0002 ... 0012 (11 migrations, 0.106s)"), so
    a first deploy does not print a line per migration of every app; a failure is said at once. At
    verbosity 2 every start and every end has its line; at 0 nothing is printed."""

    def __init__(self, verbosity: int, write: Callable[[str], None]) -> None:
        self.verbosity = verbosity
        self.write = write
        self._group: list[StepResult] = []
        self._verb = ""

    def __call__(self, action: str, step: StepResult) -> None:
        if self.verbosity >= 2:
            line = progress_line(action, step, self.verbosity)
            if line is not None:
                self.write(line)
            return
        if self.verbosity < 1 or action.endswith("_start"):
            return
        verb = "undone" if step.status == "undone" else action.split("_", 1)[0] + "ied"
        verb = {"applyied": "applied", "unapplyied": "reversed"}.get(verb, verb)
        if action.endswith("_success") and step.status != "faked":
            if self._group and (self._group[-1].app != step.app or self._verb != verb):
                self.flush()
            self._group.append(step)
            self._verb = verb
            return
        self.flush()
        line = progress_line(action, step, self.verbosity)
        if line is not None:
            self.write(line)

    def flush(self) -> None:
        group, self._group = self._group, []
        if not group:
            return
        seconds = sum(step.seconds or 0.0 for step in group)
        if len(group) == 1:
            self.write(f"  {self._verb:<9} {group[0].label} ({seconds:.3f}s)")
        else:
            self.write(
                f"  {self._verb:<9} {group[0].label} ... {group[-1].name} ({len(group)} migrations, {seconds:.3f}s)"
            )


def state_lines(before: Mapping[str, str | None], after: Mapping[str, str | None] | None, verbosity: int) -> list[str]:
    """The migration state: every app at verbosity 2; otherwise only the apps that change."""
    if verbosity >= 2 or after is None:
        lines = [f"  before   {format_state(before) or '(no migrations)'}"]
        if after is not None:
            lines.append(f"  after    {format_state(after) or '(no migrations)'}")
        return lines
    changed = sorted(app for app in {*before, *after} if before.get(app) != after.get(app))
    if not changed:
        return [f"  state    unchanged ({len(before)} apps)"]
    others = len(set(before) | set(after)) - len(changed)
    lines = [f"  state    {app} {before.get(app) or 'zero'} -> {after.get(app) or 'zero'}" for app in changed]
    if others:
        lines[-1] += f" ({others} other app(s) unchanged)"
    return lines


def backup_line(result: RunResult) -> list[str]:
    backup = result.backup
    if backup is None:
        return []
    where = f"({backup.size} bytes, sha256 {backup.sha256[:16]}, verified) in {backup.storage}"
    return [f"  backup   {backup.name} {where}"]


def outcome_lines(result: RunResult, notes: Iterable[str] = ()) -> list[str]:
    """After the steps: what recovery did, the error, the notes, the ledger row."""
    lines = []
    if result.recovery:
        lines.append(f"  recovery {result.recovery}")
    if result.error:
        lines.append(f"  error    {result.error}")
    lines.extend(f"  note     {note}" for note in dict.fromkeys([*notes, *result.notes]))
    if result.ledger_id is not None:
        lines.append(f"  ledger   row {result.ledger_id} (manage.py releases --database {result.database})")
    return lines


def loss_lines(data_loss: Iterable[Mapping[str, Any]], irreversible: Iterable[Mapping[str, Any]]) -> list[str]:
    """What a reverse plan drops and cannot undo."""
    counted = {"rows": "row(s)", "non-default": "row(s) not at the default", "non-null": "non-NULL row(s)"}
    lines = []
    for loss in data_loss:
        where = f'"{loss["table"]}"."{loss["column"]}"' if loss["column"] else f'table "{loss["table"]}"'
        lines.append(
            f"  drops    {where}: {loss['rows']} {counted.get(loss['counted'], 'row(s)')} ({loss['migration']})"
        )
    lines.extend(f"  cannot   {item['message']}" for item in irreversible)
    return lines


def _finish(lines: list[str], result: Any, style: Style) -> str:
    paint = style.SUCCESS if result.exit_code == 0 else style.ERROR
    lines.append(paint(result.summary))
    return "\n".join(lines) + "\n"


def migrate_text(result: Any, style: Style, verbosity: int = 1, progress_shown: bool = True) -> str:
    """safe_migrate's report (a MigrateResult)."""
    if verbosity < 1:
        return _finish([f"  error    {result.error}"] if result.error else [], result, style)
    heading = (
        f"safe_migrate on database {result.database!r}: release {result.release}"
        + (f", environment {result.environment}" if result.environment else "")
        + (f", image {result.image}" if result.image else "")
        + (f", target {result.target}" if result.target else "")
        + (", --fake" if result.fake else ", --fake-initial" if result.fake_initial else "")
        + (f", stage {result.stage}" if result.stage else "")
    )
    lines = [heading, *state_lines(result.state_before, result.state_after, verbosity)]
    lines += backup_line(result)
    for finding in result.findings:
        reason = f" (accepted: {finding['accepted_reason']})" if finding.get("accepted_reason") else ""
        lines.append(f"  {finding.get('status', 'blocked'):<8} {finding.get('message')}{reason}")
    if result.hint:
        lines.extend(f"  hint     {line}" for line in result.hint.splitlines())
    lines.extend(f"  created  table {table} (app without migrations)" for table in result.synced)
    if verbosity >= 2 or not progress_shown:
        lines.extend(step_line(step) for step in result.steps)
        lines.extend(step_line(step) for step in result.recovery_steps)
    lines.extend(f"  pruned   {row['app']}.{row['name']} (applied {row['applied']})" for row in result.pruned)
    lines += loss_lines(result.data_loss, result.irreversible)
    lines.extend(f"  refused  {refusal}" for refusal in result.refusals)
    lines += outcome_lines(result)
    return _finish(lines, result, style)


def plan_text(planned: Any, style: Style, verbosity: int = 1) -> str:
    """safe_migrate --plan / --sql / --check (a PlannedRun)."""
    if planned.mode == "check":
        return _finish([], planned, style)
    verb = "reverse" if planned.backwards else "apply"
    lines = [f"  state    {format_state(planned.state) or '(no migrations)'}"] if verbosity >= 2 else []
    lines.extend(f"  create   table {table} (app without migrations)" for table in planned.synced)
    lines.extend(f"  prune    {row['app']}.{row['name']} (applied {row['applied']})" for row in planned.prune or [])
    for step in planned.steps:
        flags = [] if step["reversible"] or step["backwards"] else ["irreversible"]
        if not step["atomic"]:
            flags.append("non-atomic")
        lines.append(f"  {verb:<8} {step['app']}.{step['name']}" + (f"  ({', '.join(flags)})" if flags else ""))
        # --plan: each operation as migrate --plan describes it; --sql: the SQL instead.
        detail = (step["sql"] or ["-- (no SQL)"]) if planned.mode == "sql" else step["operations"]
        lines.extend(f"    {line}" for line in detail)
    lines += loss_lines(planned.data_loss, planned.irreversible)
    lines.extend(f"  refused  {refusal}" for refusal in planned.refusals)
    lines.extend(f"  note     {note}" for note in planned.notes)
    return _finish(lines, planned, style)


def rollback_text(result: Any, style: Style, verbosity: int = 1, progress_shown: bool = True) -> str:
    """rollback_release's report (a RollbackResult), or its plan (status "planned")."""
    if verbosity < 1:
        return _finish([f"  error    {result.error}"] if result.error else [], result, style)
    plan = result.plan
    source = f"release {plan.from_release}" if plan.from_release else "the current state"
    target = f"release {plan.to_release}" if plan.to_release else "?"
    how = "restore the backup" if plan.mode == "restore" else f"reverse {len(plan.steps)} migration(s)"
    lines = [f"rollback_release on database {plan.database!r}: from {source} to {target}; {how}"]
    lines += state_lines(plan.state_before, result.state_after if result.state_after else plan.target_state, verbosity)
    lines.extend(f"  undo     release {release.name} (ledger row {release.pk})" for release in plan.undone)
    if plan.mode == "restore" and plan.restore is not None:
        lines.append(
            f"  restore  {plan.restore.backup_name} (sha256 {plan.restore.backup_sha256[:16]}, taken before "
            f"release {plan.restore.name})"
        )
    lines += backup_line(result)
    planned = result.status == "planned"
    if planned or verbosity >= 2 or not progress_shown:
        for step in plan.steps:
            lines.append(step_line(step, "reverse" if step.status == "pending" else None))
            lines.extend(f"    {sql}" for sql in plan.sql.get(step.label, []))
    lines += loss_lines([d.as_dict() for d in plan.data_loss], plan.irreversible)
    if plan.window:
        lines.append(f"  window   {plan.window['summary']} (order: {plan.window['order'].replace('_', ' ')})")
        lines.extend(f"    {finding['message']}" for finding in plan.window["findings"])
        lines.extend(f"    {line}" for line in str(plan.window["steps"]).splitlines() if line.strip())
    if plan.image:
        switch = result.image_target
        how = f" on {switch}" if switch else " (no --docker-service / --docker-image: not switched)"
        lines.append(f"  image    {plan.image}{how}")
    if result.image_switch:
        lines.append(f"  switched {result.image_switch.get('summary')}")
    # A refusal is said once: in the summary when it is the only one, here when there are more.
    refusals = plan.refusals[1:] if result.status == "refused" else plan.refusals
    lines.extend(f"  refused  {refusal}" for refusal in refusals)
    lines += outcome_lines(result, notes=plan.notes)
    return _finish(lines, result, style)
