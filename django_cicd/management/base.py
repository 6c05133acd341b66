"""What every django-cicd command shares: the output options and the exit-code contract."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable, Sequence
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from django_cicd import events
from django_cicd.conf import cicd_settings
from django_cicd.exit_codes import ExitCode
from django_cicd.redaction import redact
from django_cicd.results import CommandResult


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


def seconds(option: str, *, zero_allowed: bool = False) -> Callable[[str], float]:
    """An argparse type for a number of seconds: finite, and positive (or zero when allowed)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ArgumentTypeError(f"{option} takes a number of seconds, not {value!r}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
            least = "0 or more" if zero_allowed else "more than 0"
            raise ArgumentTypeError(f"{option} must be a finite number of seconds, {least}, not {value!r}")
        return number

    parse.__name__ = "seconds"
    return parse


def add_run_options(parser: ArgumentParser, failure: str) -> None:
    """The options of the commands that change a database through the run engine (django_cicd.runs);
    :func:`run_options` turns them into ``RunOptions`` fields."""
    parser.add_argument("--database", default="default", help="The database alias (default: default).")
    parser.add_argument("--environment", help="The stage (default: CICD['ENVIRONMENT'] or $DJANGO_ENV).")
    parser.add_argument(
        "--lock-wait",
        type=seconds("--lock-wait", zero_allowed=True),
        metavar="SECONDS",
        help="How long to wait for another run's deploy lock (default: CICD['LOCK_WAIT'], 600).",
    )
    parser.add_argument(
        "--lock-timeout",
        type=seconds("--lock-timeout"),
        metavar="SECONDS",
        help="Give up a statement that waits this long for a table lock (PostgreSQL lock_timeout, "
        "MySQL/MariaDB lock_wait_timeout; default: CICD['LOCK_TIMEOUT']).",
    )
    parser.add_argument(
        "--statement-timeout",
        type=seconds("--statement-timeout"),
        metavar="SECONDS",
        help="Cancel a statement running longer than this (PostgreSQL statement_timeout, MariaDB "
        "max_statement_time, MySQL max_execution_time; default: CICD['STATEMENT_TIMEOUT']).",
    )
    parser.add_argument(
        "--no-backup", action="store_true", help="Do not back up first (refused in production without --force)."
    )
    parser.add_argument("--force", action="store_true", help="Allow --no-backup in a production environment.")
    parser.add_argument(
        "--no-recover",
        action="store_true",
        help=f"After {failure}, leave the database as it is (and say where it is).",
    )
    parser.add_argument(
        "--restore-on-failure",
        action="store_true",
        help=f"After {failure} that recovery cannot undo, restore the backup taken before the run over the "
        "database: every write made since the backup (by anyone) is lost.",
    )


def run_options(options: dict[str, Any]) -> dict[str, Any]:
    """The ``RunOptions`` fields from the parsed options of :func:`add_run_options`."""
    return {
        "database": options["database"],
        "environment": options["environment"],
        "lock_wait": options["lock_wait"],
        "lock_timeout": options["lock_timeout"],
        "statement_timeout": options["statement_timeout"],
        "backup": not options["no_backup"],
        "force": options["force"],
        "recover": not options["no_recover"],
        "restore_on_failure": options["restore_on_failure"],
    }


class Reported(CommandError):
    """The command's outcome (exit 1 or 2) whose report, summary included, is already printed: on the
    command line it ends the process with its code and prints nothing more (each fact once); through
    ``call_command()`` it is a CommandError like any other."""


def could_not_run(message: str) -> CommandError:
    """A CommandError with exit code 2: the command could not run (bad input, unreachable service)."""
    return CommandError(redact(message), returncode=ExitCode.COULD_NOT_RUN)


def answer_is_no(message: str) -> CommandError:
    """A CommandError with exit code 1: the command ran and the answer is no."""
    return CommandError(redact(message), returncode=ExitCode.NO)


class _ReaderMayLeave(OutputWrapper):
    """The process's stdout, whose reader may go away (``manage.py predeploy --list | head``).

    The first write that finds the pipe closed points the file descriptor at /dev/null (what Python's
    documentation advises, so that the interpreter's last flush finds nothing to complain about) and
    the command goes on with its output dropped: it finishes what it was doing (a migration is not
    cut short because the reader of its progress left) and exits with its own code.
    """

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._stream = out
        #: True once the reader left: what the command says from then on reaches nobody on stdout.
        self.reader_left = False

    def write(  # type: ignore[override]  # OutputWrapper's own signature, as django-stubs has it
        self, msg: str = "", style_func: Callable[[str], str] | None = None, ending: str | None = None
    ) -> None:
        try:
            super().write(msg, style_func, ending)
        except BrokenPipeError:
            self._reader_left()

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError:
            self._reader_left()

    def _reader_left(self) -> None:
        self.reader_left = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # no file descriptor: nothing will be written there again anyway
            pass


class CicdCommand(BaseCommand):
    """Base class: writes output through redaction, to stdout or to ``--output``."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        # A bad option is "could not run" (exit 2), from call_command() too (argparse's own exit code
        # on the command line; Django's default for call_command() would be 1, "the answer is no").
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        argparse_error = parser.error

        def error(message: str) -> Any:
            if getattr(parser, "called_from_command_line", False):
                return argparse_error(message)
            raise CommandError(f"Error: {message}", returncode=ExitCode.COULD_NOT_RUN)

        parser.error = error  # type: ignore[method-assign]
        parser.add_argument(
            "--log-format",
            choices=events.FORMATS,
            help="json: the command's events (django_cicd.events) as one JSON object per line on stderr "
            "(default: CICD['LOG_FORMAT'], text: events go only to the project's LOGGING).",
        )
        return parser

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

    def emit(self, result: CommandResult, *, format: str, output: str | None, verbosity: int = 1) -> None:
        """Render ``result`` (text for people, its JSON document for machines), write it to stdout or
        ``--output``, and end with its exit code."""
        from django_cicd import reporting

        text = reporting.command_text(result, self.style, verbosity)
        if format == "json":
            self.write_output(reporting.command_json(result), output, text=text)
        else:
            self.write_output(text, output)
        if result.exit_code:
            summary = redact(result.summary)
            # Said once: not again on stderr when the report already ends with it.
            said = summary in redact(text)
            raise (Reported if said else CommandError)(summary, returncode=result.exit_code)

    def run_from_argv(self, argv: list[str]) -> None:
        self._from_command_line = True
        super().run_from_argv(argv)

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Any message that leaves through CommandError is redacted here too, whatever raised it.
        # An unexpected exception (a bug, a driver error) would print a traceback that can hold
        # secrets and exit 1, which means "the answer is no": it becomes one masked line and exit 2.
        # A closed stdout is not an error of ours (see _ReaderMayLeave); a stdout given by the caller
        # (call_command(stdout=...)) is theirs.
        if not options.get("stdout") and sys.stdout is not None and getattr(self.stdout, "_out", None) is sys.stdout:
            self.stdout = _ReaderMayLeave(cast(TextIO, sys.stdout))
        log_format = options.get("log_format") or cicd_settings.LOG_FORMAT
        with contextlib.ExitStack() as stack:
            if log_format == "json":
                stack.enter_context(events.json_to_stderr(options.get("stderr") or sys.stderr))
            stack.enter_context(events.context(command=self._command_name(), run_id=events.run_id()))
            events.emit("command.started")
            try:
                value = self._execute(*args, **options)
            except CommandError as exc:
                self._finished(exc.returncode, str(exc))
                if log_format == "json" and getattr(self, "_from_command_line", False) and not options.get("traceback"):
                    # Said in the command.finished event: a text line would break the JSON lines on stderr.
                    self.stdout.flush()
                    raise SystemExit(exc.returncode) from None
                raise
            except SystemExit as exc:  # a Reported outcome on the command line: its report said it
                said = exc.__context__
                self._finished(exc.code if isinstance(exc.code, int) else ExitCode.NO, str(said or ""))
                raise
            except BaseException as exc:
                self._finished(ExitCode.NO, f"{type(exc).__name__}: {exc}")
                raise
            self._finished(ExitCode.OK, "")
            return value

    def _finished(self, code: int, error: str) -> None:
        level = logging.INFO if code == ExitCode.OK else logging.ERROR
        events.emit("command.finished", level, exit_code=int(code), error=error or None)

    def _execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except Reported as exc:
            if getattr(self, "_from_command_line", False) and not options.get("traceback"):
                self.stdout.flush()
                if not getattr(self.stdout, "reader_left", False):
                    raise SystemExit(exc.returncode) from None  # the report on stdout said it already
                raise CommandError(str(exc), returncode=exc.returncode) from None  # nobody read it there
            raise
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
        finally:
            # Flushed here, where a reader gone away is still handled, not at the interpreter's exit.
            self.stdout.flush()

    def _command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
