"""``manage.py env``: the environment contract, variable by variable. Exit 0 all good, 1 problems, 2 could not run."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_cicd import env
from django_cicd.management.base import CicdCommand, add_output_options, answer_is_no, could_not_run
from django_cicd.redaction import redact
from django_cicd.reporting.env import ContractReport


def example_differences(contract: env.Contract, text: str) -> list[str]:
    """Why ``text`` (a .env.example) is out of sync with the contract; empty when it is not."""
    expected = dict(env.example_entries(contract))
    found = env.parse_example(text)
    found_names = [name for name, _value in found]
    found_map = dict(found)
    problems = []
    missing = [name for name in expected if name not in found_map]
    extra = [name for name in found_names if name not in expected]
    duplicated = sorted({name for name in found_names if found_names.count(name) > 1})
    if missing:
        problems.append(f"missing from the file: {', '.join(missing)}")
    if extra:
        problems.append(f"not in the contract: {', '.join(extra)}")
    if duplicated:
        problems.append(f"set more than once: {', '.join(duplicated)}")
    for name, value in expected.items():
        if name in found_map and found_map[name] != value and not contract_is_secret(contract, name):
            problems.append(f"{name} is {found_map[name]!r} in the file but {value!r} in the contract")
    return problems


def contract_is_secret(contract: env.Contract, name: str) -> bool:
    try:
        return contract[name].secret
    except KeyError:
        return False


class Command(CicdCommand):
    help = (
        "Show every variable of the settings' environment contract with its state (set, default, "
        "missing, invalid; secrets only as set or not), print .env.example (--example; --output FILE "
        "writes it) or check it (--check-example). Exit 0: no problem; 1: a variable is missing or "
        "invalid, or the example is out of date; 2: could not run."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        parser.add_argument(
            "--stage",
            default=None,
            help="Check the environment against this stage (default: the one the environment selects).",
        )
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--example",
            action="store_true",
            help="Print .env.example from the contract (or write it to --output FILE).",
        )
        action.add_argument(
            "--check-example",
            metavar="FILE",
            help="Fail when FILE lists other variables or other example values than the contract.",
        )

    def handle(
        self,
        *args: Any,
        format: str,
        output: str | None,
        stage: str | None,
        example: bool,
        check_example: str | None,
        **options: Any,
    ) -> None:
        try:
            contract = env.get_contract()
        except ImproperlyConfigured as exc:
            raise could_not_run(str(exc)) from exc
        if contract is None:
            raise could_not_run(
                "No environment contract is loaded: the settings never called Contract.load() and "
                "CICD['ENV_CONTRACT'] is not set; declare one as the settings guide shows."
            )
        if example:
            self.write_output(contract.render_example(), output)
            if output:
                self.stdout.write(
                    f"wrote {output}: the stage variable and the {len(contract.variables)} variables of the "
                    "environment contract."
                )
            return
        if check_example is not None:
            self._check_example(contract, check_example)
            return
        if stage is not None and contract.stage_named(stage) is None:
            raise could_not_run(
                f"--stage {stage!r} is not a stage of the contract; use one of {', '.join(contract.stages)}."
            )
        reading = contract.read(stage=stage, build=False if stage is not None else None)
        self.emit(ContractReport(reading), format=format, output=output, verbosity=options["verbosity"])

    def _check_example(self, contract: env.Contract, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise could_not_run(f"cannot read {path}: {exc.strerror or exc}.") from exc
        differences = example_differences(contract, text)
        if differences:
            for line in differences:
                self.stdout.write(redact(f"  - {line}"))
            raise answer_is_no(
                f"{path} is out of sync with the environment contract; regenerate it with "
                f"`manage.py env --example --output {path}`."
            )
        self.stdout.write(self.style.SUCCESS(f"{path} matches the environment contract."))


def run_without_settings(argv: list[str]) -> int:
    """``manage.py env ...`` when the settings cannot load because the environment breaks their
    contract (see :func:`django_cicd.env.report_contract_error`): the command reads the contract that
    failed as it reads any other, so a person sees the table and exit 1, not a traceback."""
    try:
        Command().run_from_argv(argv)
    except SystemExit as exc:  # run_from_argv's way to end with a CommandError's code
        return exc.code if isinstance(exc.code, int) else 1
    return 0
