"""The environment contract: every variable the settings read, declared once, parsed by django-environ.

A settings module declares its variables and reads them in one call::

    from django_cicd import env

    CONTRACT = env.Contract(
        env.Var("SECRET_KEY", secret=True, required=["staging", "production"],
                default="django-insecure-dev-only", help="Django's signing key."),
        env.Var("DEBUG", bool, default=env.by_stage(development=True, otherwise=False)),
        env.Var("DATABASE_URL", "db_url", secret=True, default="sqlite:///var/db.sqlite3"),
    )
    E = CONTRACT.load()          # one ImproperlyConfigured listing every problem, or the values
    DEBUG = E.DEBUG

What it adds to django-environ (which does the casting and the URL parsing):

- every missing or invalid variable is reported at once, each with its help text;
- booleans accept only ``true/false, yes/no, on/off, 1/0`` (``Flase`` is an error, not False);
- an empty value counts as unset (an empty ``DATABASE_URL`` is missing, not ``{}``);
- ``NAME_FILE`` reads the value from a file (Docker and Kubernetes secrets), trailing newline removed;
- values are taken literally: no ``$VAR`` interpolation (django-environ's echoes the rest of the
  value in its error message, which leaks secrets);
- stages (``DJANGO_ENV``, compared without regard to case) decide what is required, and a build
  phase (``DJANGO_BUILD=1``) lets the settings import inside ``docker build`` without runtime secrets;
- secret values are registered with :mod:`django_cicd.redaction`, so no command prints them, and
  :mod:`django_cicd.debug` keeps them off Django's debug pages and error e-mails.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from django_cicd.conf import DEFAULT_STAGE_VARIABLE
from django_cicd.redaction import MASK, redact, register_secret_provider

__all__ = [
    "DEFAULT_STAGES",
    "KINDS",
    "ByStage",
    "Contract",
    "ContractError",
    "EnvValues",
    "Problem",
    "Reading",
    "Var",
    "VariableState",
    "active_contract",
    "by_stage",
    "example_entries",
    "get_contract",
    "parse_example",
    "render_example",
    "report_contract_error",
]

DEFAULT_STAGES = ("development", "test", "staging", "production")
TRUE_SPELLINGS = ("true", "yes", "on", "1")
FALSE_SPELLINGS = ("false", "no", "off", "0")
_BOOL_HELP = "use one of " + ", ".join(f"{t}/{f}" for t, f in zip(TRUE_SPELLINGS, FALSE_SPELLINGS, strict=True))

#: The value types a variable can declare (Python types str, bool, int, float, list, dict are aliases).
KINDS = ("str", "bool", "int", "float", "list", "json", "url", "path", "db_url", "cache_url", "email_url")
_TYPE_ALIASES: dict[object, str] = {str: "str", bool: "bool", int: "int", float: "float", list: "list", dict: "json"}
_URL_SCHEMES = {
    "db_url": environ.Env.DB_SCHEMES,
    "cache_url": environ.Env.CACHE_SCHEMES,
    "email_url": environ.Env.EMAIL_SCHEMES,
}
#: In the build phase a missing URL setting becomes a backend that fails loudly if anything uses it.
_BUILD_PLACEHOLDERS: dict[str, Any] = {
    "db_url": {"ENGINE": "django.db.backends.dummy"},
    "cache_url": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    "email_url": "dummymail://",
}


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class ByStage:
    """A default that depends on the stage: ``by_stage(development=True, otherwise=False)``."""

    values: Mapping[str, Any]
    otherwise: Any = UNSET

    def for_stage(self, stage: str | None) -> Any:
        if stage is not None and stage in self.values:
            return self.values[stage]
        return self.otherwise


def by_stage(*, otherwise: Any = UNSET, **values: Any) -> ByStage:
    """A per-stage default; stages not named take ``otherwise`` (unset when omitted)."""
    return ByStage(values=values, otherwise=otherwise)


@dataclass(frozen=True, repr=False)
class Var:
    """One environment variable of the contract.

    ``required``: True (every stage), False, or the stages that require it. A required variable with
    a default uses the default in the stages that do not require it. ``build_default`` is used in the
    build phase when the variable is missing (else ``default``, else a placeholder that fails loudly).
    """

    name: str
    kind: Any = "str"
    default: Any = UNSET
    secret: bool = False
    required: bool | Iterable[str] = False
    help: str = ""
    example: str | None = None
    choices: Sequence[str] | None = None
    build_default: Any = UNSET

    def __post_init__(self) -> None:
        kind = _TYPE_ALIASES.get(self.kind, self.kind)
        if kind not in KINDS:
            raise ValueError(f"Var {self.name!r}: unknown kind {self.kind!r}; use one of {', '.join(KINDS)}.")
        object.__setattr__(self, "kind", kind)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"Var {self.name!r}: not a valid environment variable name.")
        if not isinstance(self.required, bool):
            object.__setattr__(self, "required", tuple(self.required))

    def __repr__(self) -> str:
        default = "<secret>" if self.secret and self.default is not UNSET else repr(self.default)
        return f"Var({self.name!r}, {self.kind!r}, default={default}, secret={self.secret}, required={self.required!r})"

    def required_in(self, stage: str | None) -> bool:
        if isinstance(self.required, bool):
            return self.required
        return stage is not None and stage in self.required

    def default_for(self, stage: str | None) -> Any:
        return self.default.for_stage(stage) if isinstance(self.default, ByStage) else self.default

    @property
    def required_label(self) -> str:
        if self.required is True:
            return "always"
        if not self.required:
            return "never"
        assert isinstance(self.required, tuple)
        return ", ".join(self.required)


@dataclass(frozen=True)
class Problem:
    """One missing or invalid variable. ``message`` never holds a secret value."""

    name: str
    kind: str  # "missing" or "invalid"
    message: str
    help: str = ""

    def __str__(self) -> str:
        return f"{self.message}{f' ({self.help})' if self.help else ''}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "message": self.message, "help": self.help}


@dataclass
class VariableState:
    """How one variable was read: its state, where its value came from, the value (never shown for secrets)."""

    var: Var
    #: set, default, unset (optional, no default), missing (required, no value), invalid, placeholder (build)
    state: str
    source: str | None  # environment, file, default, build, or None
    value: Any = None
    problem: Problem | None = None


class ContractError(ImproperlyConfigured):
    """Every problem of one reading; ``problems`` is the list, the message lists them all."""

    def __init__(self, message: str, problems: Sequence[Problem]) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class Reading:
    """The result of reading the environment against a contract; nothing raised."""

    contract: Contract
    stage: str | None
    build: bool
    states: list[VariableState]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def values(self) -> EnvValues:
        return EnvValues(
            {s.var.name: s.value for s in self.states},
            stage=self.stage,
            build=self.build,
            secret_names=frozenset(s.var.name for s in self.states if s.var.secret),
        )

    def error_message(self) -> str:
        count = len(self.problems)
        where = f"stage {self.stage!r}" if self.stage else "an unknown stage"
        lines = [
            f"The environment does not satisfy the settings contract for {where}"
            f"{' (build phase)' if self.build else ''}: {count} problem{'s' if count != 1 else ''}."
        ]
        lines.extend(f"  - {problem}" for problem in self.problems)
        lines.append("Set each variable in the environment (or NAME_FILE to a file holding its value).")
        return redact("\n".join(lines), self.contract.secret_values())


class EnvValues(Mapping[str, Any]):
    """The parsed values: ``values.DEBUG`` or ``values["DEBUG"]``; ``stage`` and ``build`` too.

    ``repr`` masks secret values, so printing it in a shell or a log does not leak them.
    """

    def __init__(self, data: dict[str, Any], *, stage: str | None, build: bool, secret_names: frozenset[str]) -> None:
        self._data = data
        self.stage = stage
        self.build = build
        self._secret_names = secret_names

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"the environment contract declares no variable {name!r}") from None

    def __repr__(self) -> str:
        shown = {k: (MASK if k in self._secret_names and v is not None else v) for k, v in self._data.items()}
        return f"EnvValues(stage={self.stage!r}, build={self.build}, {shown!r})"


_contracts: weakref.WeakSet[Contract] = weakref.WeakSet()
_active: list[Contract] = []


class Contract:
    """The declared environment of a project; see the module docstring."""

    def __init__(
        self,
        *variables: Var,
        stages: Sequence[str] = DEFAULT_STAGES,
        stage_variable: str = DEFAULT_STAGE_VARIABLE,
        default_stage: str | None = "development",
        build_variable: str = "DJANGO_BUILD",
        stage_help: str = "The deploy stage; it decides which variables are required.",
    ) -> None:
        names = [v.name for v in variables]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"The contract declares {', '.join(duplicates)} more than once.")
        for reserved in (stage_variable, build_variable):
            if reserved in names:
                raise ValueError(f"{reserved} is the contract's own stage or build variable; do not declare it.")
        if default_stage is not None and default_stage not in stages:
            raise ValueError(f"default_stage {default_stage!r} is not one of the stages {', '.join(stages)}.")
        for var in variables:
            unknown = [s for s in (var.required if isinstance(var.required, tuple) else ()) if s not in stages]
            if unknown:
                raise ValueError(f"Var {var.name!r} is required in unknown stages: {', '.join(unknown)}.")
            if var.choices is not None and var.kind != "str":
                raise ValueError(f"Var {var.name!r}: choices apply to str variables only.")
        self.variables: tuple[Var, ...] = tuple(variables)
        self.stages = tuple(stages)
        self.stage_variable = stage_variable
        self.default_stage = default_stage
        self.build_variable = build_variable
        self.stage_help = stage_help
        _contracts.add(self)

    def __repr__(self) -> str:
        return f"<Contract {len(self.variables)} variables, stages {', '.join(self.stages)}>"

    def __getitem__(self, name: str) -> Var:
        for var in self.variables:
            if var.name == name:
                return var
        raise KeyError(name)

    # -- reading ------------------------------------------------------------------------------

    def read(
        self, environ: Mapping[str, str] | None = None, *, stage: str | None = None, build: bool | None = None
    ) -> Reading:
        """Read every variable from ``environ`` (default ``os.environ``); never raises for bad values.

        ``stage`` and ``build`` override what the environment says (``predeploy`` checks the target
        stage with ``build=False``).
        """
        source = os.environ if environ is None else environ
        problems: list[Problem] = []
        if stage is None:
            stage = self._read_stage(source, problems)
        elif self.stage_named(stage) is None:
            problems.append(self._stage_problem(stage))
            stage = None
        else:
            stage = self.stage_named(stage)
        if build is None:
            build = self._read_build(source, problems)
        states = [self._read_one(var, source, stage, build) for var in self.variables]
        problems.extend(s.problem for s in states if s.problem is not None)
        return Reading(contract=self, stage=stage, build=build, states=states, problems=problems)

    def load(
        self, environ: Mapping[str, str] | None = None, *, env_file: str | os.PathLike[str] | None = None
    ) -> EnvValues:
        """Read the environment (after ``env_file``, if it exists) and return the values, or raise
        one :class:`ContractError` (an ImproperlyConfigured) listing every problem."""
        if env_file is not None and os.path.isfile(env_file):
            # django-environ reads the file; variables already in the environment win.
            environ_module_env().read_env(os.fspath(env_file), overwrite=False)
        reading = self.read(environ)
        if _active:
            _active[0] = self
        else:
            _active.append(self)
        if reading.problems:
            _report_on_the_command_line()
            raise ContractError(reading.error_message(), reading.problems)
        return reading.values()

    def _stage_problem(self, value: str) -> Problem:
        return Problem(
            self.stage_variable,
            "invalid",
            f"{self.stage_variable} is invalid: {value!r} is not a stage; use one of {', '.join(self.stages)}",
            self.stage_help,
        )

    def _read_stage(self, source: Mapping[str, str], problems: list[Problem]) -> str | None:
        value = (source.get(self.stage_variable) or "").strip()
        if not value:
            if self.default_stage is None:
                problems.append(
                    Problem(self.stage_variable, "missing", f"{self.stage_variable} is missing", self.stage_help)
                )
            return self.default_stage
        stage = self.stage_named(value)
        if stage is None:
            problems.append(self._stage_problem(value))
        return stage

    def stage_named(self, name: str) -> str | None:
        """The declared stage ``name`` means, compared without regard to case (``Production`` is
        ``production``), or None when it is not a stage of this contract."""
        wanted = name.strip().casefold()
        return next((stage for stage in self.stages if stage.casefold() == wanted), None)

    def _read_build(self, source: Mapping[str, str], problems: list[Problem]) -> bool:
        value = (source.get(self.build_variable) or "").strip()
        if not value:
            return False
        parsed = _parse_bool(value)
        if parsed is None:
            problems.append(
                Problem(
                    self.build_variable,
                    "invalid",
                    f"{self.build_variable} is invalid: {value!r} is not a boolean; {_BOOL_HELP}",
                    "Set to 1 only while building the image (collectstatic without runtime secrets).",
                )
            )
            return False
        return parsed

    def _read_one(self, var: Var, source: Mapping[str, str], stage: str | None, build: bool) -> VariableState:
        raw, origin, problem = _raw_value(var, source)
        if problem is not None:
            return VariableState(var, "invalid", origin, None, problem)
        if raw is None:
            return self._fallback(var, stage, build)
        value, error = _parse(var, raw)
        if error is not None:
            shown = "" if var.secret else f"{_shorten(raw)!r} "
            message = (
                f"{var.name}{' (from ' + var.name + '_FILE)' if origin == 'file' else ''} is invalid: {shown}{error}"
            )
            return VariableState(var, "invalid", origin, None, Problem(var.name, "invalid", message, var.help))
        return VariableState(var, "set", origin, value)

    def _fallback(self, var: Var, stage: str | None, build: bool) -> VariableState:
        default = var.default_for(stage)
        if build and var.required_in(stage):
            # Inside `docker build` the runtime secrets are absent by design; predeploy enforces them.
            if var.build_default is not UNSET:
                return VariableState(var, "placeholder", "build", _parse_default(var, var.build_default))
            if default is not UNSET:
                return VariableState(var, "placeholder", "default", _parse_default(var, default))
            return VariableState(var, "placeholder", "build", _parse_default(var, _BUILD_PLACEHOLDERS.get(var.kind)))
        if var.required_in(stage):
            where = f"in stage {stage!r}" if stage else "always"
            return VariableState(
                var,
                "missing",
                None,
                None,
                Problem(var.name, "missing", f"{var.name} is missing (required {where})", var.help),
            )
        if default is UNSET:
            return VariableState(var, "unset", None, None)
        return VariableState(var, "default", "default", _parse_default(var, default))

    # -- secrets -----------------------------------------------------------------------------

    def secret_values(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """The raw values of the secret variables now set (and their URL passwords), for masking.

        Read straight from the environment and the ``_FILE`` files, never from a parsed result, so
        that a value is masked even when it failed to parse."""
        source = os.environ if environ is None else environ
        found: list[str] = []
        for var in self.variables:
            if not var.secret:
                continue
            raw, _origin, _problem = _raw_value(var, source, for_masking=True)
            if raw:
                found.extend(_secret_parts(raw))
        return found

    # -- .env.example --------------------------------------------------------------------------

    def render_example(self) -> str:
        return render_example(self)


def environ_module_env() -> environ.Env:
    return environ.Env()


def _raw_value(
    var: Var, source: Mapping[str, str], *, for_masking: bool = False
) -> tuple[str | None, str | None, Problem | None]:
    """(value or None when unset, origin, problem): ``NAME`` or the file named by ``NAME_FILE``."""
    direct = source.get(var.name)
    file_name = source.get(f"{var.name}_FILE")
    if file_name:
        if direct not in (None, "") and not for_masking:
            return (
                None,
                "file",
                Problem(
                    var.name,
                    "invalid",
                    f"{var.name} and {var.name}_FILE are both set; set only one of them",
                    var.help,
                ),
            )
        try:
            # django-environ's FileAwareMapping reads NAME_FILE; the newline an editor or `echo` adds is ours to drop.
            content = environ.FileAwareMapping(env={f"{var.name}_FILE": file_name}, cache=False)[var.name]
        except (OSError, UnicodeDecodeError) as exc:
            if for_masking:
                return None, "file", None
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            return (
                None,
                "file",
                Problem(
                    var.name,
                    "invalid",
                    f"{var.name}_FILE names {file_name!r}, which cannot be read: {reason}",
                    var.help,
                ),
            )
        content = content.rstrip("\r\n")
        return (content if content.strip() else None), "file", None
    if direct is None or not direct.strip():
        return None, None, None
    return direct, "environment", None


def _shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in TRUE_SPELLINGS:
        return True
    if lowered in FALSE_SPELLINGS:
        return False
    return None


def _parse(var: Var, raw: str) -> tuple[Any, str | None]:
    """(value, None) or (None, reason). Reasons never contain the value."""
    kind = var.kind
    if kind == "str":
        if var.choices is not None and raw not in var.choices:
            return None, f"is not one of {', '.join(var.choices)}"
        return raw, None
    if kind == "bool":
        parsed = _parse_bool(raw)
        return (parsed, None) if parsed is not None else (None, f"is not a boolean; {_BOOL_HELP}")
    if kind == "int":
        # Strict: django-environ's int() would accept " 1_000"; a typo should not become a number.
        if not re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
            return None, "is not an integer"
        return int(raw.strip()), None
    if kind == "float":
        # Strict: django-environ strips every non-digit, so "0.5s" would silently become 0.5.
        try:
            number = float(raw.strip())
        except ValueError:
            return None, "is not a number"
        if not math.isfinite(number):
            return None, "is not a finite number"
        return number, None
    if kind == "list":
        items = environ.Env.parse_value(raw, list)
        return [item.strip() for item in items if item.strip()], None
    if kind == "json":
        try:
            return environ.Env.parse_value(raw, json.loads), None
        except ValueError as exc:
            return None, f"is not valid JSON (line {getattr(exc, 'lineno', '?')}, column {getattr(exc, 'colno', '?')})"
    if kind == "path":
        try:
            return Path(raw.strip()).expanduser(), None
        except RuntimeError:  # "~name" for a user that does not exist, or no HOME
            return None, "starts with ~ but that home directory cannot be determined (give an absolute path)"
    return _parse_url(var, raw.strip())


def _parse_url(var: Var, raw: str) -> tuple[Any, str | None]:
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return None, "is not a valid URL"
    if not parts.scheme or "://" not in raw:
        return None, "is not a URL (scheme://...)"
    if var.kind == "url":
        if not parts.netloc:
            return None, "has no host"
        return environ.Env.parse_value(raw, urlparse), None
    schemes = _URL_SCHEMES[var.kind]
    if parts.scheme not in schemes:
        known = ", ".join(sorted(schemes))
        return None, f"has the unknown scheme {parts.scheme!r}; use one of {known}"
    helper: Callable[[str], Any] = {
        "db_url": environ.Env.db_url_config,
        "cache_url": environ.Env.cache_url_config,
        "email_url": environ.Env.email_url_config,
    }[var.kind]
    with warnings.catch_warnings(record=True) as caught:
        # django-environ warns with the parsed config, password included: never let that reach a log.
        warnings.simplefilter("always")
        try:
            config = helper(raw)
        except (ValueError, ImproperlyConfigured):
            return None, "could not be parsed by django-environ"
    if caught or not config:
        return None, "could not be parsed by django-environ"
    return config, None


def _parse_default(var: Var, default: Any) -> Any:
    """A str default is parsed like an environment value (so ``"sqlite:///..."`` becomes a dict)."""
    if not isinstance(default, str) or var.kind == "str":
        return default
    value, error = _parse(var, default)
    if error is not None:
        raise ImproperlyConfigured(f"The default of {var.name} {error}; fix the contract declaration.")
    return value


def _secret_parts(value: str) -> list[str]:
    parts = [value, value.strip()]
    if "://" in value:
        try:
            split = urlsplit(value.strip())
        except ValueError:
            return parts
        if split.password:
            parts.extend([split.password, unquote(split.password)])
    return parts


# -- the active contract, and masking -----------------------------------------------------------


def active_contract() -> Contract | None:
    """The contract whose ``load()`` ran last in this process (the settings' one), if any."""
    return _active[0] if _active else None


def get_contract() -> Contract | None:
    """``CICD["ENV_CONTRACT"]`` (a dotted path) when set, else the contract the settings loaded."""
    from django.utils.module_loading import import_string

    from django_cicd.conf import cicd_settings

    path = cicd_settings.ENV_CONTRACT
    if path:
        try:
            contract = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"CICD['ENV_CONTRACT'] is {path!r}, which cannot be imported: {exc}. "
                "Give the dotted path of a django_cicd.env.Contract, e.g. 'myproject.settings.CONTRACT'."
            ) from exc
        if not isinstance(contract, Contract):
            raise ImproperlyConfigured(
                f"CICD['ENV_CONTRACT'] is {path!r}, which is a {type(contract).__name__}, not a "
                "django_cicd.env.Contract."
            )
        return contract
    return active_contract()


@register_secret_provider
def _contract_secrets() -> Iterable[str]:
    for contract in list(_contracts):
        yield from contract.secret_values()


# -- a broken environment on the command line ----------------------------------------------------


def report_contract_error(error: ContractError, argv: Sequence[str], prog_name: str) -> int:
    """Present ``error``, raised while the settings of ``prog_name argv[1]`` loaded; return the exit code.

    ``env`` runs anyway on the contract that failed (its table, exit 1: what the settings guide
    shows); any other command could not run: the list of problems on stderr, exit 2 (a traceback
    with ``--traceback``).
    """
    from django.conf import settings

    if not settings.configured:
        # Django's defaults stand in for the settings that failed, for the env command and redaction
        # alike (which would otherwise import the failing settings module again).
        settings.configure()
    subcommand = argv[1] if len(argv) > 1 else "help"
    if subcommand == "env":
        from django_cicd.management.commands.env import run_without_settings

        return run_without_settings([prog_name, *argv[1:]])
    if "--traceback" in argv:
        sys.stderr.write(redact("".join(traceback.format_exception(type(error), error, error.__traceback__))))
    else:
        sys.stderr.write(
            redact(
                f"{prog_name} {subcommand} could not run: the settings cannot be loaded in this environment "
                f"({prog_name} env lists every variable).\n{error}\n"
            )
        )
    return 2


def _management_utility(tb: TracebackType | None) -> Any:
    """The ``ManagementUtility`` (manage.py, django-admin) whose run ``tb`` went through, if any."""
    from django.core.management import ManagementUtility

    code = ManagementUtility.execute.__code__
    while tb is not None:
        if tb.tb_frame.f_code is code:
            utility = tb.tb_frame.f_locals.get("self")
            if isinstance(utility, ManagementUtility):
                return utility
        tb = tb.tb_next
    return None


def _report_on_the_command_line() -> None:
    """Make a ContractError that ends ``manage.py`` (or ``django-admin``) read as the list of problems.

    The settings raise while Django loads them, before any command runs, so no command can catch
    it: Django's ``manage.py`` would print a traceback and exit 1 ("the answer is no"). An exception
    hook sees it at the very end instead, with the ``manage.py`` that was running; any other
    exception, and this one in any other program, goes to the hook that was there before.
    """
    if getattr(sys.excepthook, "django_cicd_contract", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        utility = _management_utility(tb) if isinstance(error, ContractError) else None
        if utility is None:
            previous(kind, error, tb)
            return
        assert isinstance(error, ContractError)
        sys.exit(report_contract_error(error, utility.argv, utility.prog_name))

    hook.django_cicd_contract = True  # type: ignore[attr-defined]
    sys.excepthook = hook


# -- .env.example ----------------------------------------------------------------------------------

EXAMPLE_HEADER = (
    "# Generated from the settings' environment contract by `manage.py env --example`;\n"
    "# `manage.py env --check-example .env.example` fails when this file is out of date.\n"
)


def _example_value(contract: Contract, var: Var) -> str:
    if var.example is not None:
        return var.example
    if var.secret:
        return ""
    default = var.default_for(contract.default_stage)
    if default is UNSET or default is None:
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (list, tuple)):
        return ",".join(str(item) for item in default)
    if isinstance(default, dict) and var.kind == "json":
        return json.dumps(default, separators=(",", ":"))
    if isinstance(default, dict):
        return ""
    return str(default)


def example_entries(contract: Contract) -> list[tuple[str, str]]:
    """(name, example value) for the stage variable and every declared variable, in order."""
    entries = [(contract.stage_variable, contract.default_stage or contract.stages[0])]
    entries.extend((var.name, _example_value(contract, var)) for var in contract.variables)
    return entries


def render_example(contract: Contract) -> str:
    lines = [EXAMPLE_HEADER]
    lines.append(f"# {contract.stage_help} One of: {', '.join(contract.stages)}.")
    lines.append(f"# {contract.build_variable}=1 only while building the image (no runtime secrets needed).")
    lines.append(f"{contract.stage_variable}={contract.default_stage or contract.stages[0]}")
    for var in contract.variables:
        lines.append("")
        traits = [var.kind]
        if var.secret:
            traits.append("secret")
        traits.append(f"required: {var.required_label}")
        if var.choices:
            traits.append("one of " + "|".join(var.choices))
        lines.append(f"# {var.name} ({'; '.join(traits)})")
        for help_line in var.help.splitlines():
            lines.append(f"# {help_line}".rstrip())
        if var.secret:
            lines.append(f"# Or {var.name}_FILE=/run/secrets/... (a file holding the value).")
        lines.append(f"{var.name}={_example_value(contract, var)}")
    return "\n".join(lines) + "\n"


_EXAMPLE_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?P<value>.*)$")


def parse_example(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a .env file, comments and blank lines skipped."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _EXAMPLE_LINE.match(line)
        if match:
            entries.append((match.group("name"), match.group("value").strip()))
    return entries
