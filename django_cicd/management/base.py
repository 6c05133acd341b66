"""What every django-cicd command shares: the output options and the exit-code contract."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_cicd.exit_codes import ExitCode
from django_cicd.redaction import redact


def add_output_options(parser: ArgumentParser, formats: Sequence[str] = ("text", "json")) -> None:
    """``--format`` and ``--output``, registered the same way by every command."""
    parser.add_argument(
        "--format",
        choices=formats,
        default="text",
        help="Output format (default: text). With --output, the format written to the file.",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="Write the --format output to FILE; a text report still goes to stdout.",
    )


def could_not_run(message: str) -> CommandError:
    """A CommandError with exit code 2: the command could not run (bad input, unreachable service)."""
    return CommandError(redact(message), returncode=ExitCode.COULD_NOT_RUN)


def answer_is_no(message: str) -> CommandError:
    """A CommandError with exit code 1: the command ran and the answer is no."""
    return CommandError(redact(message), returncode=ExitCode.NO)


class CicdCommand(BaseCommand):
    """Base class: writes output through redaction, to stdout or to ``--output``."""

    def write_output(self, rendered: str, output: str | None, text: str | None = None) -> None:
        """Write ``rendered`` to ``output`` (a file) or to stdout; with a file, ``text`` goes to stdout."""
        rendered = redact(rendered)
        if output:
            try:
                directory = os.path.dirname(os.path.abspath(output))
                os.makedirs(directory, exist_ok=True)
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(rendered)
            except OSError as exc:
                raise could_not_run(f"cannot write the report to {output}: {exc.strerror or exc}") from exc
            if text is not None:
                self.stdout.write(redact(text), ending="")
        else:
            self.stdout.write(rendered, ending="")

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Any message that leaves through CommandError is redacted here too, whatever raised it.
        # An unexpected exception (a bug, a driver error) would print a traceback that can hold
        # secrets and exit 1, which means "the answer is no": it becomes one masked line and exit 2.
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (redact(exc.args[0]), *exc.args[1:])
            raise
        except Exception as exc:
            if options.get("traceback"):
                raise
            raise could_not_run(
                f"{self._command_name()} could not run: {type(exc).__name__}: {exc} (run with --traceback for details)"
            ) from None

    def _command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
