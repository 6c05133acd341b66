"""Forward and reverse plans from Django's migration graph and the states recorded in databases.

The graph is loaded from the code once (``MigrationLoader(None)``) and combined with what each
database has recorded, so a run over several aliases pays for one graph. A *state* is a mapping
``{app_label: leaf migration name or None}``: what the ledger records and what rollbacks aim for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.exceptions import NodeNotFoundError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.recorder import MigrationRecorder

Key = tuple[str, str]
State = dict[str, "str | None"]


@dataclass(frozen=True)
class PlanStep:
    migration: Migration
    backwards: bool = False

    @property
    def key(self) -> Key:
        return (self.migration.app_label, self.migration.name)

    @property
    def label(self) -> str:
        return f"{self.migration.app_label}.{self.migration.name}"

    def as_dict(self) -> dict[str, object]:
        return {"app": self.migration.app_label, "name": self.migration.name, "backwards": self.backwards}


def load_graph() -> MigrationLoader:
    """The migration graph of the code, with no database consulted."""
    return MigrationLoader(None, ignore_no_migrations=True)


def applied_migrations(alias: str = DEFAULT_DB_ALIAS) -> set[Key]:
    """Migrations recorded in ``django_migrations`` of ``alias`` (empty when the table is absent)."""
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return set()
    return set(recorder.applied_migrations())


def effective_applied(loader: MigrationLoader, applied: Iterable[Key]) -> set[Key]:
    """``applied`` plus each squashed migration whose replaced migrations are all applied."""
    result = set(applied)
    for key, migration in loader.replacements.items():
        if migration.replaces and all(tuple(r) in result for r in migration.replaces):
            result.add(key)
    return result


def partially_applied_squashes(loader: MigrationLoader, applied: Iterable[Key]) -> list[Key]:
    applied = set(applied)
    return [
        key
        for key, migration in loader.replacements.items()
        if any(tuple(r) in applied for r in migration.replaces)
        and not all(tuple(r) in applied for r in migration.replaces)
    ]


def forwards_order(graph: MigrationGraph, targets: Iterable[Key]) -> list[Key]:
    """``graph.forwards_plan(target)`` for each of ``targets`` in turn, each migration kept at its first
    place: the order in which ``migrate`` and ``MigrationLoader.project_state()`` apply migrations.

    Django searches the graph again from every target, so a project with many apps goes over its
    history once per app; this is one depth-first search for all of them, in which a migration already
    placed is not searched again. The order is Django's: a migration comes after its parents, and the
    parents are searched from the highest key down (the order Django's stack pops them in).
    """
    order: list[Key] = []
    placed: set[Key] = set()
    for target in targets:
        if target not in graph.node_map:
            raise NodeNotFoundError(f"Node {target!r} not a valid node", target)
        if target in placed:
            continue
        start = graph.node_map[target]
        # The path from the target to the migration being searched, each with the parents left to search.
        path = [(start, iter(sorted(start.parents, reverse=True)))]
        while path:
            node, parents = path[-1]
            parent = next((p for p in parents if p.key not in placed), None)
            if parent is not None:
                path.append((parent, iter(sorted(parent.parents, reverse=True))))
            else:
                path.pop()
                placed.add(node.key)
                order.append(node.key)
    return order


def forward_plan(loader: MigrationLoader, applied: Iterable[Key]) -> list[PlanStep]:
    """What ``migrate`` (no arguments) would apply, in order, given the recorded ``applied``."""
    done = effective_applied(loader, applied)
    return [
        PlanStep(loader.graph.nodes[key])
        for key in forwards_order(loader.graph, sorted(loader.graph.leaf_nodes()))
        if key not in done
    ]


def plan_for_database(loader: MigrationLoader, alias: str, applied: Iterable[Key]) -> list[PlanStep]:
    """The forward plan for ``alias``. A squash that the database has applied only in part must be run
    through the migrations it replaces, as ``migrate`` does: that needs the graph built for this
    database, so only then is a second graph loaded."""
    applied = set(applied)
    if partially_applied_squashes(loader, applied):
        own = MigrationLoader(connections[alias], ignore_no_migrations=True)
        return forward_plan(own, applied)
    return forward_plan(loader, applied)


def _number(name: str) -> int | None:
    digits = name.split("_", 1)[0]
    return int(digits) if digits.isdigit() else None


def _unrecognised(loader: MigrationLoader, applied: Iterable[Key]) -> list[Key]:
    known = set(loader.disk_migrations)
    for migration in loader.disk_migrations.values():
        known.update((r[0], r[1]) for r in migration.replaces)
    installed = {config.label for config in apps.get_app_configs()}
    return sorted(k for k in applied if k not in known and k[0] in installed)


def _highest_numbers(loader: MigrationLoader) -> dict[str, int]:
    highest: dict[str, int] = {}
    for app_label, name in loader.disk_migrations:
        number = _number(name)
        if number is not None:
            highest[app_label] = max(highest.get(app_label, 0), number)
    return highest


def unknown_applied(loader: MigrationLoader, applied: Iterable[Key]) -> list[Key]:
    """Migrations recorded in the database that are newer than the code: the code is older.

    Migrations replaced by a squashed migration the code still has are known; rows numbered at or below
    the app's highest migration in the code are stale rows (see :func:`stale_applied`); apps that are no
    longer installed are left out (see :func:`uninstalled_applied`).
    """
    highest = _highest_numbers(loader)
    return [
        key
        for key in _unrecognised(loader, applied)
        if (number := _number(key[1])) is None or number > highest.get(key[0], -1)
    ]


def stale_applied(loader: MigrationLoader, applied: Iterable[Key]) -> list[Key]:
    """Rows for migrations the code no longer has but that are not newer than it: what is left in
    ``django_migrations`` once a squash is finished and the replaced files (and ``replaces``) are gone."""
    future = set(unknown_applied(loader, applied))
    return [key for key in _unrecognised(loader, applied) if key not in future]


def uninstalled_applied(applied: Iterable[Key]) -> dict[str, int]:
    installed = {config.label for config in apps.get_app_configs()}
    counts: dict[str, int] = {}
    for app_label, _name in applied:
        if app_label not in installed:
            counts[app_label] = counts.get(app_label, 0) + 1
    return counts


def state_from_applied(loader: MigrationLoader, applied: Iterable[Key]) -> State:
    """``{app_label: leaf applied or None}`` for every app with migrations in the code."""
    done = effective_applied(loader, applied)
    state: State = {}
    for app_label in sorted(loader.migrated_apps):
        app_nodes = [k for k in loader.graph.nodes if k[0] == app_label and k in done]
        leaves = [
            k
            for k in app_nodes
            if not any(child.key[0] == app_label and child.key in done for child in loader.graph.node_map[k].children)
        ]
        state[app_label] = max(leaves)[1] if leaves else None
    return state


def file_location(migration: Migration) -> str | None:
    """The path of a migration's file, relative to the working directory when inside it."""
    module = sys.modules.get(migration.__module__)
    path = getattr(module, "__file__", None)
    return relative_path(path) if path else None


def base_directory() -> str:
    """What reported paths are relative to: the repository checkout on GitHub Actions and GitLab CI
    (so annotations land on the right file when manage.py lives in a subdirectory), else the
    working directory."""
    return os.environ.get("GITHUB_WORKSPACE") or os.environ.get("CI_PROJECT_DIR") or os.getcwd()


def relative_path(path: str) -> str:
    base = os.path.abspath(base_directory())
    absolute = os.path.abspath(path)
    if absolute.startswith(base + os.sep):
        return os.path.relpath(absolute, base)
    return absolute


def settings_path() -> str:
    """The settings module's file: where configuration findings without a file of their own point."""
    module_name = os.environ.get("DJANGO_SETTINGS_MODULE") or "settings"
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return relative_path(path) if path else module_name.replace(".", "/") + ".py"


def format_state(state: Mapping[str, str | None]) -> str:
    return ", ".join(f"{app}={name or 'zero'}" for app, name in sorted(state.items()))


# --- reverse plans (rollback_release) -------------------------------------------------------------


class PlanningError(Exception):
    """A plan cannot be made: one sentence saying why and what to do."""


class CodeOlderThanDatabase(PlanningError):
    """The database has migrations this code does not have: only newer code can reverse them."""

    def __init__(self, unknown: list[Key]) -> None:
        self.unknown = unknown
        names = ", ".join(f"{app}.{name}" for app, name in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        super().__init__(
            f"the code is older than the database: {len(unknown)} migration(s) recorded in the database are not "
            f"in this code ({names}), so it cannot reverse them; run the rollback from the newer release's code "
            "(its image still has those migration files), or restore the backup taken before that release "
            "(rollback_release --restore-backup)"
        )


def reverse_targets(
    loader: MigrationLoader, target: Mapping[str, str | None], *, keep: Iterable[str] = ()
) -> list[tuple[str, str | None]]:
    """``(app, migration or None)`` for every app with migrations in the code: the target's recorded leaf,
    or None (zero) for an app the target does not name (it did not exist then). Apps in ``keep`` are
    left out (the ledger's own app stays where it is)."""
    kept = set(keep)
    targets: list[tuple[str, str | None]] = []
    for app_label in sorted(loader.migrated_apps):
        if app_label in kept:
            continue
        name = target.get(app_label)
        if name and (app_label, name) not in loader.graph.nodes and (app_label, name) not in loader.replacements:
            raise PlanningError(
                f"the target state names {app_label}.{name}, which this code does not have; the target "
                "release was recorded by other code: pick another release with --to"
            )
        targets.append((app_label, name or None))
    return targets


def reverse_plan(
    executor: MigrationExecutor, target: Mapping[str, str | None], *, keep: Iterable[str] = ()
) -> list[PlanStep]:
    """The backwards plan that takes the database of ``executor`` from its recorded state to ``target``
    (``{app: leaf or None}``), in the order Django unapplies it, computed by Django's own executor.

    Raises :class:`CodeOlderThanDatabase` when the database has migrations the code lacks (the rollback
    order: reverse with the newer code first), and :class:`PlanningError` when reaching the target would
    apply migrations (it is ahead of the database: that is a deploy, not a rollback).
    """
    applied = executor.loader.applied_migrations or {}
    unknown = unknown_applied(executor.loader, applied)
    if unknown:
        raise CodeOlderThanDatabase(unknown)
    targets = reverse_targets(executor.loader, target, keep=keep)
    plan = executor.migration_plan(targets)
    forwards = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    if forwards:
        raise PlanningError(
            f"reaching the target would apply {len(forwards)} migration(s) ({', '.join(forwards[:5])}): the target "
            "is ahead of the database, which is a deploy; run safe_migrate instead"
        )
    return [PlanStep(migration, backwards=True) for migration, _ in plan]
