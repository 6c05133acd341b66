"""What the checks of one predeploy run share: one migration graph, one project state, the options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from django_cicd import planning, walking

#: The check that says why a database does not answer; the checks that need it are skipped meanwhile.
REACHABLE_CHECK_ID = "cicd.database.reachable"

#: Where :attr:`CheckContext.project_state` may come from as a by-product of work a selected check does
#: anyway (the safety analysis walks the pending plan up to the leaf migrations); each returns None
#: when it cannot give it, and the state is then walked from the first migration.
LEAF_STATE_SOURCES: list[Callable[[CheckContext], ProjectState | None]] = []


@dataclass
class CheckContext:
    #: Database aliases the run targets (``--database``; default every alias).
    databases: list[str]
    #: False under ``--no-db``: checks that need a database are skipped.
    use_database: bool = True
    environment: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: The ids of the checks the run executes (set by ``run_checks``).
    check_ids: frozenset[str] = frozenset()
    #: The target aliases that did not answer a connection, once probed (see :meth:`silence`).
    silent_databases: list[str] | None = field(default=None, init=False, repr=False)

    @cached_property
    def loader(self) -> MigrationLoader:
        """The migration graph from the code, loaded once for every check (no database needed)."""
        return planning.load_graph()

    @cached_property
    def project_state(self) -> ProjectState:
        """The state at the leaf migrations, walked once (the costliest step in a big project): by the
        safety analysis when it runs, else from the first migration."""
        for source in LEAF_STATE_SOURCES:
            state = source(self)
            if state is not None:
                return state
        return walking.project_state(self.loader)

    def applied(self, alias: str) -> set[tuple[str, str]]:
        """Migrations recorded as applied on ``alias``, read once per alias."""
        cache: dict[str, set[tuple[str, str]]] = self.__dict__.setdefault("_applied", {})
        if alias not in cache:
            cache[alias] = planning.applied_migrations(alias)
        return cache[alias]

    def plan(self, alias: str) -> list[planning.PlanStep]:
        """The forward plan ``migrate`` would run on ``alias`` now."""
        cache: dict[str, list[planning.PlanStep]] = self.__dict__.setdefault("_plans", {})
        if alias not in cache:
            cache[alias] = planning.plan_for_database(self.loader, alias, self.applied(alias))
        return cache[alias]

    def silence(self, *, probe: bool = True) -> str | None:
        """Why the checks that need the database cannot run here: the target databases that do not
        answer a connection, probed once per run (without ``probe``, only what was found already);
        None when every one answers.

        Asked when a check that needs the database raised: the cause is then the database, which
        ``cicd.database.reachable`` reports, not the check.
        """
        if self.silent_databases is None:
            if not probe:
                return None
            self.silent_databases = []
            for alias in self.databases:
                try:
                    connections[alias].ensure_connection()
                except Exception:  # noqa: BLE001 (every driver raises its own error classes)
                    self.silent_databases.append(alias)
        silent = self.silent_databases
        if not silent:
            return None
        names = ", ".join(repr(alias) for alias in silent)
        subject = f"the database {names} does" if len(silent) == 1 else f"the databases {names} do"
        return f"{subject} not answer; {REACHABLE_CHECK_ID} says why"
