"""The database tables of a plan, followed by name through renames and state-only operations.

"Is this table new in the plan?" is a question about the database, not about Django's state: a
table created by one app and taken over by another (``SeparateDatabaseAndState`` with a state-only
``CreateModel`` keeping ``db_table``), renamed (``RenameModel``, ``AlterModelTable``, a ``RunSQL``
rename) or shared through ``db_table`` is the same table, empty if the plan created it and full if
it existed before. :class:`Tables` follows each table from its name before the plan (its *origin*,
where its size is read) to its name now; :func:`events` says what one operation does to the tables.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.backends.utils import truncate_name
from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import Field


@dataclass(frozen=True)
class Event:
    """``create`` (``table``), ``drop`` (``table``) or ``rename`` (``table`` to ``new``)."""

    kind: str
    table: str
    new: str | None = None


class Tables:
    """Where each table of the plan came from: created in it (new), or the name it had before it."""

    def __init__(self, *, all_new: bool = False) -> None:
        #: Every table is new: the plan starts from an empty database (a first deploy).
        self.all_new = all_new
        self._new: set[str] = set()
        #: Current name -> name before the plan, for the tables renamed in it.
        self._origin: dict[str, str] = {}
        #: Current name -> identity, which renames keep and a drop ends (see :meth:`identity`).
        self._identity: dict[str, int] = {}
        self._counter = itertools.count(1)

    def is_new(self, table: str | None) -> bool:
        return self.all_new or (table is not None and table in self._new)

    def origin(self, table: str) -> str:
        """The name ``table`` had before the plan: the table whose size the database knows."""
        return self._origin.get(table, table)

    def identity(self, table: str) -> int:
        """A number that stays with the table through renames: "is it still the same table?"."""
        if table not in self._identity:
            self._identity[table] = next(self._counter)
        return self._identity[table]

    def apply(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.kind == "create":
                self._new.add(event.table)
                self._origin.pop(event.table, None)
                # A drop forgets the identity: a table created again is another table, unless the
                # identity was asked for since (about the operation that creates it).
                self.identity(event.table)
            elif event.kind == "drop":
                self._new.discard(event.table)
                self._origin.pop(event.table, None)
                self._identity.pop(event.table, None)
            elif event.kind == "rename" and event.new and event.new != event.table:
                identity = self.identity(event.table)
                if event.table in self._new:
                    self._new.discard(event.table)
                    self._new.add(event.new)
                    self._origin.pop(event.new, None)
                else:
                    self._origin[event.new] = self._origin.pop(event.table, event.table)
                self._identity.pop(event.table, None)
                self._identity[event.new] = identity


# --- names ----------------------------------------------------------------------------------------


def has_table(model_state: ModelState | None) -> bool:
    """Whether migrations change a table for this model (not for unmanaged, proxy or swapped ones)."""
    if model_state is None:
        return False
    options = model_state.options
    return bool(options.get("managed", True)) and not options.get("proxy") and not options.get("swapped")


def table_of(app_label: str, model_state: ModelState, max_length: int | None) -> str:
    db_table = model_state.options.get("db_table")
    if db_table:
        return str(db_table)
    return default_table(app_label, model_state.name_lower, max_length)


def default_table(app_label: str, model_name: str, max_length: int | None) -> str:
    return truncate_name(f"{app_label}_{model_name.lower()}", max_length)


def m2m_table(table: str, name: str, field: Field[Any, Any], max_length: int | None) -> str:
    return str(getattr(field, "db_table", None) or truncate_name(f"{table}_{name}", max_length))


def _auto_m2m(fields: Iterable[tuple[str, Field[Any, Any]]]) -> Iterator[tuple[str, Field[Any, Any]]]:
    for name, field in fields:
        if field.many_to_many and not getattr(field.remote_field, "through", None):
            yield name, field


# --- what an operation does to the tables ---------------------------------------------------------

_Q = r"[\"`\[]?"
_NAME = rf"(?:{_Q}\w+{_Q}\.)?{_Q}(?P<{{group}}>\w+){_Q}"
_SQL_CREATE = re.compile(rf"^\s*CREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
                         rf"(?:IF\s+NOT\s+EXISTS\s+)?{_NAME.format(group='table')}", re.I)  # fmt: skip
_SQL_DROP = re.compile(rf"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_NAME.format(group='table')}", re.I)
_SQL_RENAME = re.compile(
    rf"^\s*(?:ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME.format(group='table')}\s+RENAME\s+TO\s+"
    rf"|RENAME\s+TABLE\s+{_NAME.format(group='table2')}\s+TO\s+){_NAME.format(group='new')}",
    re.I,
)


def sql_statements(sql: Any) -> list[str]:
    """The statements of a ``RunSQL`` argument: a string, or a list of strings and (sql, params) pairs."""
    if isinstance(sql, str):
        items: list[Any] = [sql]
    elif isinstance(sql, (list, tuple)):
        items = list(sql)
    else:
        return []
    statements: list[str] = []
    for item in items:
        text = item[0] if isinstance(item, (list, tuple)) and item else item
        if isinstance(text, str):
            statements.extend(part for part in text.split(";") if part.strip())
    return statements


def _sql_events(sql: Any) -> Iterator[Event]:
    for statement in sql_statements(sql):
        rename = _SQL_RENAME.match(statement)
        if rename:
            yield Event("rename", rename.group("table") or rename.group("table2"), rename.group("new"))
            continue
        create = _SQL_CREATE.match(statement)
        if create:
            yield Event("create", create.group("table"))
            continue
        drop = _SQL_DROP.match(statement)
        if drop:
            yield Event("drop", drop.group("table"))


def events(app_label: str, operation: Operation, state: ProjectState, max_length: int | None) -> list[Event]:
    """What ``operation`` does to the database's tables, read from ``state`` as it is before it."""
    found: list[Event] = []
    models: Mapping[tuple[str, str], ModelState] = state.models
    if isinstance(operation, ops.SeparateDatabaseAndState):
        # Only the database operations touch tables; they see the state as it moves under them.
        if not operation.database_operations:
            return found
        database_state = ProjectState(models={k: m.clone() for k, m in models.items()}, real_apps=state.real_apps)
        for inner in operation.database_operations:
            found.extend(events(app_label, inner, database_state, max_length))
            inner.state_forwards(app_label, database_state)
        return found
    if isinstance(operation, ops.RunSQL):
        return list(_sql_events(operation.sql))
    if isinstance(operation, ops.CreateModel):
        options = operation.options
        if not options.get("managed", True) or options.get("proxy"):
            return []
        table = str(options.get("db_table") or default_table(app_label, operation.name_lower, max_length))
        found.append(Event("create", table))
        found.extend(Event("create", m2m_table(table, n, f, max_length)) for n, f in _auto_m2m(operation.fields))
        return found
    if isinstance(operation, ops.DeleteModel):
        model_state = models.get((app_label, operation.name_lower))
        if not has_table(model_state):
            return []
        assert model_state is not None
        table = table_of(app_label, model_state, max_length)
        found.extend(
            Event("drop", m2m_table(table, n, f, max_length)) for n, f in _auto_m2m(model_state.fields.items())
        )
        found.append(Event("drop", table))
        return found
    if isinstance(operation, (ops.RenameModel, ops.AlterModelTable)):
        name = operation.old_name_lower if isinstance(operation, ops.RenameModel) else operation.name_lower
        model_state = models.get((app_label, name))
        if not has_table(model_state):
            return []
        assert model_state is not None
        old = table_of(app_label, model_state, max_length)
        if isinstance(operation, ops.RenameModel):
            new = str(model_state.options.get("db_table") or default_table(app_label, operation.new_name, max_length))
        else:
            new = str(operation.table or default_table(app_label, operation.name_lower, max_length))
        if new == old:
            return []
        found.append(Event("rename", old, new))
        for n, f in _auto_m2m(model_state.fields.items()):
            old_m2m, new_m2m = m2m_table(old, n, f, max_length), m2m_table(new, n, f, max_length)
            if old_m2m != new_m2m:
                found.append(Event("rename", old_m2m, new_m2m))
        return found
    if isinstance(operation, (ops.AddField, ops.RemoveField)):
        model_state = models.get((app_label, operation.model_name_lower))
        if not has_table(model_state):
            return []
        assert model_state is not None
        field = operation.field if isinstance(operation, ops.AddField) else model_state.fields.get(operation.name)
        if field is None or not field.many_to_many or getattr(field.remote_field, "through", None):
            return []
        table = m2m_table(table_of(app_label, model_state, max_length), operation.name, field, max_length)
        return [Event("create" if isinstance(operation, ops.AddField) else "drop", table)]
    return []
