"""Which migrations to analyse when it is not the plan pending on a database.

* :func:`migrations_since` ``("origin/main")``: the migration files added since a git ref (what a pull
  request brings), read from ``git diff --name-only --diff-filter=A REF`` plus untracked files;
* :func:`named_migrations` ``("catalog.0012,billing.0003_invoice_total")``: named ones (a name may be
  a unique prefix, as ``migrate`` accepts);
* :func:`analyse_selection`: the analysis of such a :class:`Selection`.

Bad input raises :class:`SelectionError` with one sentence naming the problem and the fix; the
commands turn it into exit code 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.loader import MigrationLoader

from django_cicd import planning
from django_cicd.migrations_safety.analysis import SafetyReport, analyse_both, analyse_plan
from django_cicd.migrations_safety.locations import migration_path

Key = tuple[str, str]


class SelectionError(ValueError):
    """The selection cannot be made (unknown migration, git missing, unknown ref)."""


@dataclass
class Selection:
    """Migrations chosen by git ref or by name, and in words how they were chosen."""

    keys: list[Key]
    #: "migration files added since origin/main", "catalog.0012_x, billing.0003_y"
    description: str
    #: Why the selection is empty, when it is (shown instead of a silent pass).
    empty_reason: str | None = None
    files: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [f"{app}.{name}" for app, name in self.keys]


def migrations_since(git_ref: str, *, loader: MigrationLoader | None = None, cwd: str | None = None) -> Selection:
    """The migrations whose files were added since ``git_ref`` (committed or not)."""
    if not git_ref or git_ref.startswith("-"):
        raise SelectionError(f"{git_ref!r} is not a git ref; pass a branch, tag or commit such as origin/main.")
    git = shutil.which("git")
    if git is None:
        raise SelectionError(
            "git is not installed (or not on PATH), and --migrations-since needs it: install git, or name the "
            "migrations with --migrations APP.NAME,..."
        )
    cwd = cwd or os.getcwd()
    top = _git(git, cwd, "rev-parse", "--show-toplevel").strip()
    resolved = subprocess.run(
        [git, "rev-parse", "--verify", "--quiet", f"{git_ref}^{{commit}}"], cwd=cwd, capture_output=True, text=True
    )
    if resolved.returncode != 0:
        raise SelectionError(
            f"unknown git ref {git_ref!r}: fetch it first (a shallow CI clone lacks it: fetch the history, e.g. "
            "actions/checkout with fetch-depth: 0), or pass a branch, tag or commit that exists."
        )
    added = _git(git, cwd, "diff", "--name-only", "--diff-filter=A", "-z", git_ref, "--").split("\0")
    untracked = _git(git, cwd, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    paths = {os.path.realpath(os.path.join(top, name)) for name in [*added, *untracked] if name.endswith(".py")}
    loader = loader if loader is not None else planning.load_graph()
    by_path = _migrations_by_path(loader)
    keys = _graph_order(loader, [by_path[path] for path in paths if path in by_path])
    description = f"migration files added since {git_ref}"
    empty = None
    if not keys:
        empty = f"no migration file was added since {git_ref} (git diff --diff-filter=A {git_ref}, untracked files)"
    files = sorted(planning.relative_path(path) for path in paths if path in by_path)
    return Selection(keys, description, empty, files)


def named_migrations(names: str | Iterable[str], *, loader: MigrationLoader | None = None) -> Selection:
    """The migrations named ``app_label.name`` (comma-separated, or an iterable); a name may be a prefix."""
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
    items = [item for item in items if item]
    if not items:
        raise SelectionError("no migration named: pass APP.NAME[,APP.NAME...], e.g. catalog.0012_gadget_sku.")
    malformed = [item for item in items if "." not in item or item.startswith(".") or item.endswith(".")]
    if malformed:
        raise SelectionError(
            f"{', '.join(repr(m) for m in malformed)} {'is' if len(malformed) == 1 else 'are'} not APP.NAME; "
            "write the app label, a dot and the migration name (or its number), e.g. catalog.0012."
        )
    loader = loader if loader is not None else planning.load_graph()
    keys: list[Key] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for item in items:
        app_label, prefix = item.split(".", 1)
        try:
            migration = loader.get_migration_by_prefix(app_label, prefix)
        except AmbiguityError:
            ambiguous.append(item)
        except KeyError:
            unknown.append(item)
        else:
            keys.append((migration.app_label, migration.name))
    if unknown or ambiguous:
        problems = []
        if unknown:
            problems.append(f"unknown migration{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        if ambiguous:
            problems.append(f"{', '.join(ambiguous)} match{'' if len(ambiguous) > 1 else 'es'} several migrations")
        raise SelectionError(f"{'; '.join(problems)}: see `manage.py showmigrations` for the names.")
    keys = _graph_order(loader, keys)
    return Selection(keys, ", ".join(f"{a}.{n}" for a, n in keys))


def analyse_selection(
    selection: Selection | Iterable[Key],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    direction: str = "forwards",
    **options: bool,
) -> SafetyReport:
    """Analyse the selected migrations as if they were deployed together (tables they create are new).

    Migrations that sit between two selected ones in the graph are walked, not analysed, so each
    selected migration meets the state it will run on.
    """
    keys = selection.keys if isinstance(selection, Selection) else list(selection)
    loader = loader if loader is not None else planning.load_graph()
    plan = [planning.PlanStep(loader.graph.nodes[key]) for key in _span(loader, keys)]
    if direction == "backwards":
        plan = [planning.PlanStep(step.migration, backwards=True) for step in reversed(plan)]
    return analyse_plan(plan, database=database, loader=loader, direction=direction, only=set(keys), **options)


def analyse_selection_both(
    selection: Selection | Iterable[Key],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    table_sizes: bool = True,
) -> tuple[SafetyReport, SafetyReport]:
    """:func:`analyse_selection` forwards and backwards, from one walk (see :func:`analyse_both`)."""
    keys = selection.keys if isinstance(selection, Selection) else list(selection)
    loader = loader if loader is not None else planning.load_graph()
    plan = [planning.PlanStep(loader.graph.nodes[key]) for key in _span(loader, keys)]
    return analyse_both(plan, database=database, loader=loader, only=set(keys), table_sizes=table_sizes)


# --- helpers -------------------------------------------------------------------------------------


def _git(git: str, cwd: str, *args: str) -> str:
    result = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["failed"])[-1]
        if "not a git repository" in message:
            raise SelectionError(
                f"{cwd} is not inside a git checkout, and --migrations-since needs one: run from the checkout, "
                "or name the migrations with --migrations APP.NAME,..."
            )
        raise SelectionError(f"git {args[0]} failed: {message}")
    return result.stdout


def _migrations_by_path(loader: MigrationLoader) -> dict[str, Key]:
    found: dict[str, Key] = {}
    for key, migration in loader.disk_migrations.items():
        path = migration_path(migration)
        if path:
            found[os.path.realpath(path)] = key
    return found


def _graph_order(loader: MigrationLoader, keys: Iterable[Key]) -> list[Key]:
    """``keys`` in an order ``migrate`` could apply them; keys the graph left out (replaced by an
    applied squash) are dropped."""
    wanted = {key for key in keys if key in loader.graph.nodes}
    return [key for key in _topological(loader, wanted) if key in wanted]


def _span(loader: MigrationLoader, keys: list[Key]) -> list[Key]:
    """The selected migrations and those between them (descendants of one, ancestors of another)."""
    selected = set(keys)
    ancestors = set(planning.forwards_order(loader.graph, selected))
    descendants: set[Key] = set()
    queue = list(selected)
    while queue:
        for child in loader.graph.node_map[queue.pop()].children:
            if child.key not in descendants:
                descendants.add(child.key)
                queue.append(child.key)
    between = ancestors & (selected | descendants)
    return [key for key in _topological(loader, between) if key in between]


def _topological(loader: MigrationLoader, keys: set[Key]) -> list[Key]:
    """``keys`` and their ancestors in the order of Django's ``forwards_plan`` for each key in turn."""
    return planning.forwards_order(loader.graph, sorted(keys))
