"""File and line of a migration's operations, so CI annotations point at the operation itself."""

from __future__ import annotations

import ast
import sys
from functools import lru_cache

from django.db.migrations.migration import Migration

from django_cicd.planning import relative_path
from django_cicd.report import Location


@lru_cache(maxsize=4096)
def _parse(path: str) -> tuple[int | None, tuple[int, ...], int | None]:
    """(line of ``class Migration``, line of each element of ``operations``, line of ``cicd_accept``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None, (), None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            operations: tuple[int, ...] = ()
            accept_line = None
            for item in node.body:
                targets = item.targets if isinstance(item, ast.Assign) else []
                if isinstance(item, ast.AnnAssign):
                    targets = [item.target]
                names = {t.id for t in targets if isinstance(t, ast.Name)}
                value = getattr(item, "value", None)
                if "operations" in names and isinstance(value, (ast.List, ast.Tuple)):
                    operations = tuple(element.lineno for element in value.elts)
                if "cicd_accept" in names:
                    accept_line = item.lineno
            return node.lineno, operations, accept_line
    return None, (), None


def migration_path(migration: Migration) -> str | None:
    module = sys.modules.get(type(migration).__module__)
    return getattr(module, "__file__", None)


def operation_location(migration: Migration, index: int | None) -> Location | None:
    """The migration file and the line where operation ``index`` starts (the class line as fallback)."""
    path = migration_path(migration)
    if not path:
        return None
    class_line, operations, _ = _parse(path)
    line = operations[index] if index is not None and index < len(operations) else class_line
    return Location(relative_path(path), line)


def acceptance_location(migration: Migration) -> Location | None:
    """Where ``cicd_accept`` is set on the Migration class (the class line as fallback)."""
    path = migration_path(migration)
    if not path:
        return None
    class_line, _, accept_line = _parse(path)
    return Location(relative_path(path), accept_line or class_line)
