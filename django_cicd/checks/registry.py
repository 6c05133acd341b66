"""The registry of predeploy checks: built-in ones and the project's own."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from django_cicd.report import Finding, Severity

if TYPE_CHECKING:
    from django_cicd.checks.context import CheckContext

CheckFunction = Callable[["CheckContext"], Iterable[Finding]]


class SkipCheck(Exception):
    """Raised by a check that cannot run here; the report shows it as skipped with the reason."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    function: CheckFunction = field(compare=False)
    severity: Severity = Severity.ERROR
    needs_database: bool = False
    description: str = ""
    #: Excluded from a run unless selected by ``--only`` (for slow or opt-in checks).
    default: bool = True

    @property
    def area(self) -> str:
        return self.id.split(".")[1] if self.id.count(".") >= 2 else self.id


class CheckRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, check: Check) -> Check:
        existing = self._checks.get(check.id)
        if existing is not None and existing.function is not check.function:
            raise ImproperlyConfigured(f"Two predeploy checks use the id {check.id!r}; check ids must be unique.")
        self._checks[check.id] = check
        return check

    def unregister(self, check_id: str) -> None:
        self._checks.pop(check_id, None)

    def __iter__(self) -> Iterator[Check]:
        return iter(list(self._checks.values()))

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def get(self, check_id: str) -> Check:
        return self._checks[check_id]

    def select(self, only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
        """Checks matching ``only`` (all default ones when empty) and not matching ``skip``.

        A selector is a check id, a prefix ending in a dot or written without one (``cicd.migrations``
        selects ``cicd.migrations.conflicts``), or a glob. An unknown selector raises ``KeyError``.
        """
        only, skip = list(only), list(skip)
        for selector in [*only, *skip]:
            if not any(self._matches(selector, check.id) for check in self):
                raise KeyError(selector)
        chosen = (
            [c for c in self if any(self._matches(s, c.id) for s in only)] if only else [c for c in self if c.default]
        )
        return [c for c in chosen if not any(self._matches(s, c.id) for s in skip)]

    @staticmethod
    def _matches(selector: str, check_id: str) -> bool:
        if any(ch in selector for ch in "*?["):
            return fnmatch.fnmatchcase(check_id, selector)
        prefix = selector.rstrip(".")
        return check_id == prefix or check_id.startswith(prefix + ".")


registry = CheckRegistry()


def register(
    id: str,
    *,
    title: str,
    severity: Severity = Severity.ERROR,
    needs_database: bool = False,
    default: bool = True,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a predeploy check::

        @register("myproject.search.index", title="Search index is reachable")
        def search_index(ctx):
            if not ping():
                yield Finding("search index unreachable", hint="check SEARCH_URL")

    The function takes a :class:`~django_cicd.checks.context.CheckContext` and yields (or returns a
    list of) :class:`~django_cicd.report.Finding`; no finding means the check passed. ``severity`` is
    the default severity of its findings.
    """

    def decorator(function: CheckFunction) -> CheckFunction:
        registry.register(
            Check(
                id=id,
                title=title,
                function=function,
                severity=severity,
                needs_database=needs_database,
                # cleandoc: the docstring's indentation would otherwise reach SARIF's fullDescription
                # and --list on Python < 3.13 (which keeps it).
                description=inspect.cleandoc(function.__doc__ or ""),
                default=default,
            )
        )
        return function

    return decorator


def load_project_checks(paths: Iterable[str]) -> None:
    """Import each dotted path of ``CICD["CHECKS"]``: a module (its ``@register`` calls run on import)
    or a decorated function. Raises ImproperlyConfigured naming the setting."""
    for path in paths:
        try:
            try:
                importlib.import_module(path)
            except ModuleNotFoundError as exc:
                if exc.name is None or not path.startswith(exc.name):
                    raise  # the module exists; something it imports does not
                import_string(path)
        except ImproperlyConfigured:
            raise
        except Exception as exc:  # noqa: BLE001 (any error in the user's module means it cannot load)
            raise ImproperlyConfigured(
                f"CICD['CHECKS'] entry {path!r} cannot be imported: {type(exc).__name__}: {exc}. "
                "Give the dotted path of a module or of a function decorated with django_cicd.checks.register."
            ) from None
