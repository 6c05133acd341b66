"""What the checks of one predeploy run share: one migration graph, one project state, the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from django_cicd import planning


@dataclass
class CheckContext:
    #: Database aliases the run targets (``--database``; default every alias).
    databases: list[str]
    #: False under ``--no-db``: checks that need a database are skipped.
    use_database: bool = True
    environment: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def loader(self) -> MigrationLoader:
        """The migration graph from the code, loaded once for every check (no database needed)."""
        return planning.load_graph()

    @cached_property
    def project_state(self) -> ProjectState:
        """The state at the leaf migrations, rendered once (the costliest step in a big project)."""
        return self.loader.project_state()

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
