"""``manage.py env``: the environment contract as a result (table for people, JSON for machines)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from django_cicd import env
from django_cicd.results import envelope


@dataclass
class ContractReport:
    """Every variable of the contract, read in one environment and stage."""

    reading: env.Reading
    command: ClassVar[str] = "env"

    @property
    def exit_code(self) -> int:
        return 1 if self.reading.problems else 0

    @property
    def status(self) -> str:
        return "problems" if self.reading.problems else "ok"

    @property
    def summary(self) -> str:
        stage = self.reading.stage or "unknown"
        count = len(self.reading.problems)
        if not count:
            return f"every variable of the contract is set or has a default for stage {stage}"
        return (
            f"{count} variable{'s are' if count != 1 else ' is'} missing or invalid for stage {stage}; set "
            f"{'them' if count != 1 else 'it'} in the environment."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **envelope("env", command=self.command, status=self.status, exit_code=self.exit_code, summary=self.summary),
            **reading_document(self.reading),
        }


def reading_document(reading: env.Reading) -> dict[str, Any]:
    """The ``--format json`` document (secret values never in it: only whether they are set)."""
    contract = reading.contract
    variables = []
    for state in reading.states:
        var = state.var
        default = var.default_for(reading.stage)
        variables.append(
            {
                "name": var.name,
                "type": var.kind,
                "state": state.state,
                "source": state.source,
                "secret": var.secret,
                "required": var.required_in(reading.stage),
                "required_in": list(contract.stages) if var.required is True else list(var.required or ()),
                "value": None if var.secret else _jsonable(state.value),
                "default": None if var.secret or default is env.UNSET else _jsonable(default),
                "help": var.help,
                "problem": state.problem.message if state.problem else None,
            }
        )
    return {
        "stage": reading.stage,
        "stage_variable": contract.stage_variable,
        "stages": list(contract.stages),
        "build": reading.build,
        "ok": reading.ok,
        "variables": variables,
        "problems": [problem.as_dict() for problem in reading.problems],
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "geturl"):
        return str(value.geturl())
    return str(value)


def _shown(state: env.VariableState) -> str:
    if state.var.secret:
        return "(secret)" if state.state in {"set", "default", "placeholder"} else ""
    if state.value is None:
        return ""
    value = state.value
    text = value if isinstance(value, str) else str(value) if isinstance(value, Path) else json.dumps(_jsonable(value))
    return text if len(text) <= 50 else text[:49] + "…"


def env_text(reading: env.Reading, style: Any) -> str:
    rows = [("NAME", "TYPE", "STATE", "SOURCE", "REQUIRED", "VALUE")]
    for state in reading.states:
        rows.append(
            (
                state.var.name,
                state.var.kind + (" secret" if state.var.secret else ""),
                state.state,
                state.source or "-",
                "yes" if state.var.required_in(reading.stage) else "no",
                _shown(state),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    paint = {"missing": style.ERROR, "invalid": style.ERROR, "placeholder": style.WARNING}
    stage = reading.stage or "unknown"
    lines = [
        style.MIGRATE_HEADING(
            f"environment contract: {len(reading.states)} variables, stage {stage} "
            f"({reading.contract.stage_variable}){', build phase' if reading.build else ''}"
        )
    ]
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        if index > 0:
            cells[2] = paint.get(row[2], lambda text: text)(cells[2])
        lines.append(("  " + "  ".join([*cells, row[-1]])).rstrip())
    if reading.problems:
        lines.append(style.ERROR(f"{len(reading.problems)} problem{'s' if len(reading.problems) != 1 else ''}:"))
        lines.extend(f"  - {problem}" for problem in reading.problems)
    else:
        lines.append(style.SUCCESS("every variable is set or has a default"))
    return "\n".join(lines) + "\n"


def contract_text(report: ContractReport, style: Any, verbosity: int = 1) -> str:
    return env_text(report.reading, style)
