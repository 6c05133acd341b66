"""Walk a migration plan operation by operation, keep the project state, collect the SQL, apply the rules.

The walk mirrors what ``migrate`` does (``Migration.apply``): the state before each operation, the
operation's ``state_forwards``, and its ``database_forwards`` run against a schema editor created with
``collect_sql=True``, so the SQL of the target vendor is rendered and never executed. The schema
editor is not entered: nothing is sent to the database except the introspection queries some
operations make (an AlterField looking up constraint names), which only read the catalog, and, once
after the walk, the sizes of the tables the lock and rewrite findings name.

A backwards plan is walked in forward order too (the state is built forwards), and its findings are
reported in the order the reversal would meet them. One walk can judge both directions of a plan
(:func:`analyse_both`): predeploy's two checks share it.

The tables are followed by name (:mod:`django_cicd.migrations_safety.tables`): an operation on a
table created earlier in the plan is not flagged, whichever model Django's state gives it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from types import CodeType
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import NOT_PROVIDED, Field, ForeignKey, GeneratedField, UniqueConstraint

from django_cicd import planning, walking
from django_cicd.conf import cicd_settings
from django_cicd.migrations_safety import hints as hints_module
from django_cicd.migrations_safety import sizes
from django_cicd.migrations_safety import tables as tables_module
from django_cicd.migrations_safety.acceptance import ACCEPT_ATTRIBUTE, app_acceptances, parse_acceptances
from django_cicd.migrations_safety.findings import SafetyFinding, SafetyReport
from django_cicd.migrations_safety.locations import acceptance_location, migration_path, operation_location
from django_cicd.migrations_safety.rendering import PartialRenderer
from django_cicd.migrations_safety.rules import PREFIX, RULES
from django_cicd.migrations_safety.tables import Tables, has_table
from django_cicd.report import Location, Severity

__all__ = ["DIRECTIONS", "SafetyFinding", "SafetyReport", "analyse_both", "analyse_plan", "describe"]

DIRECTIONS = ("forwards", "backwards")
FORWARDS, BACKWARDS = DIRECTIONS

#: Operations whose SQL no rule reads, on any vendor: rendered only to show the SQL of a finding.
_SQL_UNREAD: tuple[type[Operation], ...] = (
    ops.CreateModel,
    ops.DeleteModel,
    ops.RenameModel,
    ops.AlterModelTable,
    ops.RemoveField,
    ops.RenameField,
    ops.AlterModelOptions,
    ops.AlterModelManagers,
    ops.AlterModelTableComment,
    ops.AlterOrderWithRespectTo,
    ops.RunPython,
)
#: Vendors with rules that read the SQL; on the others it is rendered only to show a finding's SQL.
_SQL_VENDORS = ("postgresql", "mysql")


def analyse_plan(
    plan: Iterable[planning.PlanStep],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    direction: str = FORWARDS,
    exempt_new_tables: bool = True,
    render_sql: bool = True,
    only: Collection[tuple[str, str]] | None = None,
    table_sizes: bool = True,
) -> SafetyReport:
    """Analyse the operations of ``plan`` for the vendor of ``database``.

    ``direction="forwards"`` judges a deploy (what breaks or locks, what cannot be undone);
    ``"backwards"`` judges a reversal (what cannot be undone, what data it drops, what it breaks for
    the new code that serves meanwhile: :attr:`SafetyReport.rollback_window`). With
    ``exempt_new_tables`` (the default) operations on a table created earlier in the same plan are
    not flagged, and a plan that starts from an empty database (a first deploy) gets no lock or
    compatibility finding at all; turn it off to lint every migration as if its tables existed.
    With ``only``, the other migrations of the plan are walked (the state and the tables follow
    them) but not analysed: that is how a selection that is not a whole plan is analysed (see
    :func:`django_cicd.migrations_safety.sources.analyse_selection`). With ``table_sizes`` (the
    default) the sizes of the tables the lock and rewrite findings name are read from ``database``
    to grade them (see :mod:`django_cicd.migrations_safety.sizes`).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'forwards' or 'backwards', not {direction!r}")
    steps = list(plan)
    backwards = direction == BACKWARDS
    wrong = [step.label for step in steps if step.backwards != backwards]
    if wrong:
        raise ValueError(
            f"analyse_plan(direction={direction!r}) was given steps of the other direction: {', '.join(wrong)}"
        )
    forward_order = list(reversed(steps)) if backwards else steps
    reports = _analyse(
        forward_order,
        (direction,),
        database=database,
        loader=loader,
        exempt_new_tables=exempt_new_tables,
        render_sql=render_sql,
        only=only,
        table_sizes=table_sizes,
    )
    return reports[direction]


def analyse_both(
    plan: Iterable[planning.PlanStep],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    only: Collection[tuple[str, str]] | None = None,
    table_sizes: bool = True,
    at_end: Callable[[ProjectState], object] | None = None,
) -> tuple[SafetyReport, SafetyReport]:
    """The forwards report of ``plan`` (forward steps) and the backwards report of its reversal, from
    one walk: what :func:`analyse_plan` returns for the plan and for its reverse, at the cost of one.

    ``at_end`` is called with the project state the walk ends with: the state after the plan and
    every migration it depends on (predeploy carries it on to the leaves instead of walking the
    history again, see :func:`django_cicd.walking.complete`)."""
    steps = list(plan)
    wrong = [step.label for step in steps if step.backwards]
    if wrong:
        raise ValueError(f"analyse_both() takes a forward plan; these steps are backwards: {', '.join(wrong)}")
    reports = _analyse(
        steps,
        DIRECTIONS,
        database=database,
        loader=loader,
        exempt_new_tables=True,
        render_sql=True,
        only=only,
        table_sizes=table_sizes,
        at_end=at_end,
    )
    return reports[FORWARDS], reports[BACKWARDS]


def _analyse(
    forward_order: list[planning.PlanStep],
    directions: tuple[str, ...],
    *,
    database: str,
    loader: MigrationLoader | None,
    exempt_new_tables: bool,
    render_sql: bool,
    only: Collection[tuple[str, str]] | None,
    table_sizes: bool,
    at_end: Callable[[ProjectState], object] | None = None,
) -> dict[str, SafetyReport]:
    loader = loader if loader is not None else planning.load_graph()
    connection = connections[database]
    migrations = [step.migration for step in forward_order]
    state, from_nothing = _state_before(loader, migrations)
    first_deploy = from_nothing and exempt_new_tables
    walker = _Walker(
        connection,
        directions,
        exempt_new_tables=exempt_new_tables,
        render_sql=render_sql,
        first_deploy=first_deploy,
    )
    per_migration = [
        walker.migration(migration, state, analyse=only is None or (migration.app_label, migration.name) in only)
        for migration in migrations
    ]
    walker.finish(state)
    if at_end is not None:
        at_end(state)
    labels = [step.label for step in forward_order if only is None or step.key in only]
    reports: dict[str, SafetyReport] = {}
    if FORWARDS in directions:
        findings = [finding for found in per_migration for finding in found[FORWARDS]]
        graded, table_sizes_read, note = sizes.apply_grades(
            findings,
            connection if table_sizes else None,
            vendor=connection.vendor,
            note=None if table_sizes else "analysed without reading the database",
        )
        reports[FORWARDS] = SafetyReport(
            database=database,
            vendor=connection.vendor,
            direction=FORWARDS,
            migrations=labels,
            findings=graded,
            not_rendered=walker.not_rendered,
            first_deploy=first_deploy,
            table_sizes=table_sizes_read,
            sizes_note=note,
        )
    if BACKWARDS in directions:
        reports[BACKWARDS] = SafetyReport(
            database=database,
            vendor=connection.vendor,
            direction=BACKWARDS,
            migrations=list(reversed(labels)),
            findings=[f for found in reversed(per_migration) for f in reversed(found[BACKWARDS]) if walker.keep(f)],
            not_rendered=walker.not_rendered,
        )
    return reports


def describe(operation: Operation) -> str:
    """``operation.describe()``, naming the function of a RunPython (Django says "Raw Python operation")."""
    if isinstance(operation, ops.RunPython):
        return f"RunPython {getattr(operation.code, '__qualname__', 'operation')}"
    if isinstance(operation, ops.RunSQL):
        return "RunSQL"
    return str(operation.describe())


def _state_before(loader: MigrationLoader, migrations: Sequence[Migration]) -> tuple[ProjectState, bool]:
    """The project state just before the first of ``migrations`` (their parents outside the plan,
    applied), and whether the plan holds every migration of the graph: the database has none applied,
    it is empty."""
    keys = {(m.app_label, m.name) for m in migrations}
    parents: set[tuple[str, str]] = set()
    for key in keys:
        node = loader.graph.node_map.get(key)
        if node is not None:
            parents.update(parent.key for parent in node.parents if parent.key not in keys)
    if not parents:
        everything = bool(keys) and all(key in keys for key in loader.graph.nodes)
        return walking.WalkState(real_apps=loader.unmigrated_apps), everything
    return walking.project_state(loader, sorted(parents)), False


@lru_cache(maxsize=1024)
def _third_party(path: str | None) -> bool:
    """Whether a migration file belongs to an installed package (the project cannot edit it)."""
    if not path:
        return False
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    base = planning.base_directory()
    return any(path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes) and not path.startswith(
        base.rstrip("/") + "/"
    )


# --- the walk ----------------------------------------------------------------------------------


class _Names(dict[str, str]):
    """The names a hint uses; a missing one shows as "?" rather than hiding the whole hint."""

    def __missing__(self, key: str) -> str:
        return "?"


@dataclass
class _Candidate:
    rule: str
    message: str
    names: _Names
    table: str | None = None
    column: str | None = None
    #: The name the table had before the plan (where its size is read), for the sized rules.
    origin: str | None = None
    #: For the rollback-window rules: what the new code must (or must not) still use, checked
    #: against the state at the end of the plan (see :meth:`_Walker.keep`).
    window: _Window | None = None


@dataclass(frozen=True)
class _Window:
    #: The table's identity (:meth:`Tables.identity`) when the operation runs.
    identity: int
    #: The column, when the check is about one.
    column: str | None = None
    #: True: the new code must use the table (and column); False: it must not know the column.
    used: bool = True


@dataclass
class _SqlContext:
    names: _Names
    alter: tuple[Field[Any, Any], Field[Any, Any]] | None = None
    #: Index name -> table, for a DROP INDEX that does not name its table (RunSQL).
    index_tables: dict[str, str] = field(default_factory=dict)


class _Walker:
    def __init__(
        self,
        connection: BaseDatabaseWrapper,
        directions: tuple[str, ...],
        *,
        exempt_new_tables: bool,
        render_sql: bool,
        first_deploy: bool,
    ):
        self.connection = connection
        self.vendor = connection.vendor
        self.forwards = FORWARDS in directions
        self.backwards = BACKWARDS in directions
        self.exempt_new_tables = exempt_new_tables
        self.render_sql = render_sql and self.forwards
        self.app_accept = app_acceptances(cicd_settings.MIGRATION_SAFETY)
        self.max_name_length = connection.ops.max_name_length()
        self.tables = Tables(all_new=first_deploy)
        self.not_rendered: dict[str, str] = {}
        #: Every change of the state goes through it, so that it knows which rendered models are stale.
        self.renderer = PartialRenderer()
        #: id(finding) -> what it needs of the new code, for the rollback-window findings.
        self._windows: dict[int, _Window] = {}
        #: The path of each migration file, as findings name it.
        self._paths: dict[tuple[str, str], str] = {}
        #: At the end of the walk: identity -> the model state the new code has for that table.
        self._final: dict[int, ModelState] | None = None

    # One migration ---------------------------------------------------------------------------

    def migration(self, migration: Migration, state: ProjectState, *, analyse: bool) -> dict[str, list[SafetyFinding]]:
        """The findings of ``migration`` per direction; ``state`` moves past it. ``analyse=False`` only walks."""
        found: dict[str, list[SafetyFinding]] = {FORWARDS: [], BACKWARDS: []}
        app_label = migration.app_label
        if not analyse:
            for operation in migration.operations:
                self._forward(app_label, operation, state)
            return found
        label = f"{app_label}.{migration.name}"
        directions = [d for d, wanted in ((FORWARDS, self.forwards), (BACKWARDS, self.backwards)) if wanted]
        class_accept, problems = parse_acceptances(
            getattr(migration, ACCEPT_ATTRIBUTE, None), f"{label} (Migration.{ACCEPT_ATTRIBUTE})"
        )
        for problem in problems:
            for direction in directions:
                found[direction].append(
                    self._invalid_acceptance(migration, None, problem, partial(acceptance_location, migration))
                )
        third_party = _third_party(migration_path(migration))
        data_only = _data_only(migration)
        editor: BaseDatabaseSchemaEditor | None = None
        for index, operation in enumerate(migration.operations):
            op_accept, op_problems = parse_acceptances(
                getattr(operation, ACCEPT_ATTRIBUTE, None), f"{label} operation {index} ({ACCEPT_ATTRIBUTE})"
            )
            for problem in op_problems:
                for direction in directions:
                    location = partial(operation_location, migration, index)
                    found[direction].append(self._invalid_acceptance(migration, index, problem, location))
            accepted = {**self.app_accept.get(app_label, {}), **class_accept, **op_accept}
            candidates: dict[str, list[_Candidate]] = {FORWARDS: [], BACKWARDS: []}
            for direction in directions:
                backwards = direction == BACKWARDS
                candidates[direction] = list(self._operation_rules(migration, operation, state, backwards=backwards))
            statements: list[str] | None = []
            if self._renders(app_label, operation, state, candidates[FORWARDS]):
                if editor is None:
                    editor = self._editor()
                context = self._sql_context(app_label, operation, state)
                events = tables_module.events(app_label, operation, state, self.max_name_length)
                new_before = {t for e in events for t in (e.table, e.new) if t and self.tables.is_new(t)}
                statements, error = self._render(app_label, operation, state, editor)
                self.tables.apply(events)
                if error is not None:
                    editor = None
                    if label not in self.not_rendered:
                        self.not_rendered[label] = error
                        found[FORWARDS].append(self._not_rendered(migration, index, operation, error))
                elif not isinstance(operation, ops.CreateModel):  # a new table: nothing to lock yet
                    candidates[FORWARDS].extend(self._sql_rules(statements or [], context, new_before))
            else:
                self._forward(app_label, operation, state)
            for direction in directions:
                seen: set[tuple[str, str | None]] = set()
                for candidate in candidates[direction]:
                    rule_id = PREFIX + candidate.rule
                    if (rule_id, candidate.table) in seen:
                        continue
                    seen.add((rule_id, candidate.table))
                    finding = self._finding(
                        migration,
                        index,
                        operation,
                        candidate,
                        accepted.get(rule_id),
                        statements,
                        backwards=direction == BACKWARDS,
                        third_party=third_party,
                        data_only=data_only,
                    )
                    if candidate.window is not None:
                        self._windows[id(finding)] = candidate.window
                    found[direction].append(finding)
        return found

    def _relative_path(self, migration: Migration) -> str:
        key = (migration.app_label, migration.name)
        if key not in self._paths:
            self._paths[key] = planning.relative_path(migration_path(migration) or migration.name)
        return self._paths[key]

    def _forward(self, app_label: str, operation: Operation, state: ProjectState) -> None:
        """Move ``state`` and the tables past ``operation`` without rendering its SQL."""
        events = tables_module.events(app_label, operation, state, self.max_name_length)
        self.renderer.forward(app_label, operation, state)
        self.tables.apply(events)

    def _renders(self, app_label: str, operation: Operation, state: ProjectState, candidates: list[_Candidate]) -> bool:
        """Whether to render the SQL of ``operation``: for the rules that read it, or to show it in a finding."""
        if not self.render_sql or not operation.reduces_to_sql or self._exempt(app_label, operation, state):
            return False
        if candidates:
            return True
        return self.vendor in _SQL_VENDORS and not isinstance(operation, _SQL_UNREAD)

    # The end of the walk ------------------------------------------------------------------------

    def finish(self, state: ProjectState) -> None:
        """Remember what the new code (the state at the end of the plan) has, for :meth:`keep`."""
        if not self._windows:
            return
        by_table = {
            tables_module.table_of(key[0], model_state, self.max_name_length): model_state
            for key, model_state in state.models.items()
            if has_table(model_state)
        }
        self._final = {self.tables.identity(table): model_state for table, model_state in by_table.items()}

    def keep(self, finding: SafetyFinding) -> bool:
        """False for a rollback-window finding about something the new code does not use after all."""
        window = self._windows.get(id(finding))
        if window is None:
            return True
        model_state = (self._final or {}).get(window.identity)
        if model_state is None:
            return False  # the new code has no model on that table: nothing of it breaks
        if window.column is None:
            return True
        columns = {self._column(f, name) for name, f in model_state.fields.items() if not f.many_to_many}
        return (window.column in columns) == window.used

    def _finding(
        self,
        migration: Migration,
        index: int,
        operation: Operation,
        candidate: _Candidate,
        accepted_reason: str | None,
        statements: list[str] | None,
        *,
        backwards: bool,
        third_party: bool,
        data_only: bool,
    ) -> SafetyFinding:
        rule = RULES[PREFIX + candidate.rule]
        names = candidate.names
        names.setdefault("app", migration.app_label)
        names.setdefault("migration", migration.name)
        names.setdefault("migration_path", self._relative_path(migration))
        names.setdefault("direction", BACKWARDS if backwards else FORWARDS)
        severity = rule.severity
        if candidate.rule == "irreversible" and backwards:
            severity = Severity.ERROR
        extra: dict[str, Any] = {"database": self.connection.alias, "vendor": self.vendor}
        if candidate.origin is not None:
            extra[sizes.ORIGIN] = candidate.origin
        if candidate.rule == "noop_reverse" and data_only:
            extra["data_only"] = True
        return SafetyFinding(
            rule_id=rule.id,
            severity=severity,
            app_label=migration.app_label,
            migration_name=migration.name,
            operation_index=index,
            operation=describe(operation),
            message=f"{migration.app_label}.{migration.name}: {candidate.message}",
            hint=hints_module.HINTS[candidate.rule](names),
            when="rollback" if backwards else rule.when,
            where=partial(operation_location, migration, index),
            accepted_reason=accepted_reason,
            sql_rendered=statements is not None,
            table=candidate.table,
            column=candidate.column,
            sql=tuple(statements or ()) if not backwards else (),
            third_party=third_party,
            extra=extra,
        )

    def _invalid_acceptance(
        self, migration: Migration, index: int | None, problem: str, location: Callable[[], Location | None]
    ) -> SafetyFinding:
        rule = RULES[PREFIX + "acceptance_invalid"]
        return SafetyFinding(
            rule_id=rule.id,
            severity=rule.severity,
            app_label=migration.app_label,
            migration_name=migration.name,
            operation_index=index,
            operation="" if index is None else migration.operations[index].describe(),
            message=problem,
            hint=hints_module.acceptance_invalid(_Names()),
            when="deploy",
            where=location,
            third_party=_third_party(migration_path(migration)),
        )

    def _not_rendered(self, migration: Migration, index: int, operation: Operation, error: str) -> SafetyFinding:
        rule = RULES[PREFIX + "sql_not_rendered"]
        return SafetyFinding(
            rule_id=rule.id,
            severity=rule.severity,
            app_label=migration.app_label,
            migration_name=migration.name,
            operation_index=index,
            operation=operation.describe(),
            message=(
                f"{migration.app_label}.{migration.name}: SQL not rendered for operation {index} "
                f"({operation.describe()}): {error}. The operations were analysed without their SQL."
            ),
            hint=hints_module.sql_not_rendered(_Names(app=migration.app_label, migration=migration.name)),
            when="deploy",
            where=partial(operation_location, migration, index),
            sql_rendered=False,
            third_party=_third_party(migration_path(migration)),
        )

    # SQL ----------------------------------------------------------------------------------------

    def _editor(self) -> BaseDatabaseSchemaEditor:
        editor = self.connection.schema_editor(collect_sql=True, atomic=False)
        # Not entered as a context manager: entering would open a transaction (or, on SQLite, switch
        # foreign keys off) and leaving would run the deferred SQL. A new editor per migration, as
        # migrate has: its deferred statements are shown with the operation that deferred them.
        editor.deferred_sql = []
        return editor

    def _render(
        self, app_label: str, operation: Operation, state: ProjectState, editor: BaseDatabaseSchemaEditor
    ) -> tuple[list[str] | None, str | None]:
        try:
            return self.renderer.render(app_label, operation, state, editor), None
        except Exception as exc:  # noqa: BLE001 (Wagtail's old AlterUniqueTogether: see the docs)
            return None, f"{type(exc).__name__}: {exc}"

    # The "new table" exemption ----------------------------------------------------------------

    def _exempt(self, app_label: str, operation: Operation, state: ProjectState) -> bool:
        """Whether ``operation`` works on a table the plan created (so nothing runs on it, and it is empty)."""
        if not self.exempt_new_tables:
            return False
        if self.tables.all_new or isinstance(operation, ops.CreateModel):
            return True
        model_state = self._operation_model(app_label, operation, state)
        if model_state is None:
            return False
        return self.tables.is_new(self._table(app_label, model_state))

    def _operation_model(self, app_label: str, operation: Operation, state: ProjectState) -> ModelState | None:
        model: str | None
        if isinstance(operation, ops.RenameModel):
            model = operation.old_name_lower
        else:
            model = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        return self._model(state, app_label, model) if model else None

    def _without_table(self, app_label: str, operation: Operation, state: ProjectState) -> bool:
        """An operation on an unmanaged, proxy or swapped model changes no table."""
        if isinstance(operation, ops.CreateModel):
            options = operation.options
            return not options.get("managed", True) or bool(options.get("proxy"))
        model_state = self._operation_model(app_label, operation, state)
        return model_state is not None and not has_table(model_state)

    # Names from the state -------------------------------------------------------------------------

    def _table(self, app_label: str, model_state: ModelState) -> str:
        return tables_module.table_of(app_label, model_state, self.max_name_length)

    def _default_table(self, app_label: str, model_name: str) -> str:
        return tables_module.default_table(app_label, model_name, self.max_name_length)

    def _m2m_table(self, table: str, name: str, field_: Field[Any, Any]) -> str:
        return tables_module.m2m_table(table, name, field_, self.max_name_length)

    @staticmethod
    def _column(field_: Field[Any, Any], name: str) -> str:
        if field_.db_column:
            return str(field_.db_column)
        return f"{name}_id" if isinstance(field_, ForeignKey) else name

    @staticmethod
    def _get_field(model_state: ModelState, name: str) -> Field[Any, Any] | None:
        fields: dict[str, Field[Any, Any]] = dict(model_state.fields)
        if name in fields:
            return fields[name]
        return next((f for n, f in fields.items() if n.lower() == name.lower()), None)

    def _model(self, state: ProjectState, app_label: str, name: str) -> ModelState | None:
        return state.models.get((app_label, name.lower()))

    def _base_names(self, app_label: str, model_state: ModelState, field_name: str | None = None) -> _Names:
        names = _Names(
            app=app_label,
            model=model_state.name,
            model_name=model_state.name_lower,
            table=self._table(app_label, model_state),
        )
        if field_name is not None:
            names["field"] = field_name
            field_ = self._get_field(model_state, field_name)
            if field_ is not None:
                names["column"] = self._column(field_, field_name)
        return names

    # Operation rules --------------------------------------------------------------------------

    def _operation_rules(
        self, migration: Migration, operation: Operation, state: ProjectState, *, backwards: bool
    ) -> Iterator[_Candidate]:
        app_label = migration.app_label
        if isinstance(operation, ops.SeparateDatabaseAndState):
            # Only the database operations touch the database; they run against their own copy of the
            # state, as SeparateDatabaseAndState.database_forwards does.
            if not operation.database_operations:
                return
            database_state = ProjectState(
                models={key: model.clone() for key, model in state.models.items()}, real_apps=state.real_apps
            )
            for inner in operation.database_operations:
                yield from self._operation_rules(migration, inner, database_state, backwards=backwards)
                inner.state_forwards(app_label, database_state)
            return
        yield from self._reversibility_rules(operation, backwards=backwards)
        if self._without_table(app_label, operation, state):
            return
        if backwards:
            # Reported in reverse: the data-loss finding of an operation comes before its window finding.
            yield from self._window_rules(app_label, operation, state)
            yield from self._backward_rules(app_label, operation, state)
        elif not self._exempt(app_label, operation, state):
            yield from self._forward_rules(app_label, operation, state)
            yield from self._data_migration_rules(migration, operation, state)

    def _reversibility_rules(self, operation: Operation, *, backwards: bool) -> Iterator[_Candidate]:
        what = describe(operation)
        if not operation.reversible:
            if backwards:
                message = f"{what} has no reverse: the rollback cannot be undone past this operation."
            else:
                message = (
                    f"{what} has no reverse: once deployed, this release cannot be rolled back by reversing "
                    "migrations, only by restoring a backup."
                )
            yield _Candidate("irreversible", message, _Names())
            return
        noop = (isinstance(operation, ops.RunPython) and operation.reverse_code is ops.RunPython.noop) or (
            isinstance(operation, ops.RunSQL) and operation.reverse_sql in ("", [], ())
        )
        if noop:
            yield _Candidate(
                "noop_reverse",
                f"{what} reverses as a no-op: a rollback takes the schema back, not the data.",
                _Names(),
            )
        elif backwards and isinstance(operation, (ops.RunPython, ops.RunSQL)):
            yield _Candidate(
                "reverse_data_migration",
                f"reversing {what} runs its reverse code, which changes the data written since the deploy too.",
                _Names(),
            )

    def _forward_rules(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        if isinstance(operation, ops.RemoveField):
            model_state = self._model(state, app_label, operation.model_name)
            if model_state is None:
                return
            field_ = self._get_field(model_state, operation.name)
            names = self._base_names(app_label, model_state, operation.name)
            if field_ is not None and field_.many_to_many:
                table = self._m2m_table(names["table"], operation.name, field_)
                yield _Candidate(
                    "remove_field",
                    f'RemoveField drops the many-to-many table "{table}" of {model_state.name}.{operation.name} '
                    "while the running release still uses it; its rows are lost.",
                    names,
                    table=table,
                )
                return
            if field_ is not None and not field_.null and field_.db_default is NOT_PROVIDED:
                names["not_null"] = "yes"
            yield _Candidate(
                "remove_field",
                f'RemoveField drops column "{names["table"]}"."{names["column"]}" ({model_state.name}.'
                f"{operation.name}) while the running release still reads and writes it; its data is lost.",
                names,
                table=names["table"],
                column=names["column"],
            )
        elif isinstance(operation, ops.DeleteModel):
            model_state = self._model(state, app_label, operation.name)
            if model_state is None:
                return
            names = self._base_names(app_label, model_state)
            yield _Candidate(
                "delete_model",
                f'DeleteModel drops table "{names["table"]}" ({model_state.name}) while the running release '
                "still queries it; its rows are lost.",
                names,
                table=names["table"],
            )
        elif isinstance(operation, ops.RenameField):
            model_state = self._model(state, app_label, operation.model_name)
            if model_state is None:
                return
            field_ = self._get_field(model_state, operation.old_name)
            if field_ is None or field_.many_to_many:
                return
            old_column = self._column(field_, operation.old_name)
            new_column = self._column(field_, operation.new_name)
            if old_column == new_column:
                return
            names = self._base_names(app_label, model_state, operation.old_name)
            names.update(new_field=operation.new_name, new_column=new_column)
            yield _Candidate(
                "rename_field",
                f'RenameField renames column "{names["table"]}"."{old_column}" to "{new_column}" while the '
                f"running release still uses {model_state.name}.{operation.old_name}.",
                names,
                table=names["table"],
                column=old_column,
            )
        elif isinstance(operation, ops.RenameModel):
            model_state = self._model(state, app_label, operation.old_name)
            if model_state is None or model_state.options.get("db_table"):
                return
            names = self._base_names(app_label, model_state)
            new_table = self._default_table(app_label, operation.new_name)
            names.update(new_model=operation.new_name, new_table=new_table)
            yield _Candidate(
                "rename_model",
                f'RenameModel renames table "{names["table"]}" to "{new_table}" while the running release '
                f"still queries {operation.old_name}.",
                names,
                table=names["table"],
            )
        elif isinstance(operation, ops.AlterModelTable):
            model_state = self._model(state, app_label, operation.name)
            if model_state is None:
                return
            names = self._base_names(app_label, model_state)
            new_table = operation.table or self._default_table(app_label, operation.name)
            if new_table == names["table"]:
                return
            names["new_table"] = str(new_table)
            yield _Candidate(
                "alter_model_table",
                f'AlterModelTable renames table "{names["table"]}" to "{new_table}" while the running release '
                f"still queries {model_state.name}.",
                names,
                table=names["table"],
            )
        elif isinstance(operation, ops.AlterField):
            yield from self._alter_field_rules(app_label, operation, state)
        elif isinstance(operation, ops.AddField):
            model_state = self._model(state, app_label, operation.model_name)
            field_ = operation.field
            if model_state is None or field_.many_to_many or isinstance(field_, GeneratedField):
                return
            names = self._base_names(app_label, model_state)
            column = self._column(field_, operation.name)
            names.update(field=operation.name, column=column)
            if not field_.null and field_.db_default is NOT_PROVIDED:
                yield _Candidate(
                    "add_field_not_null",
                    f'AddField adds NOT NULL column "{names["table"]}"."{column}" without a database default: '
                    f"the running release's INSERTs into {model_state.name} leave it out and fail.",
                    names,
                    table=names["table"],
                    column=column,
                )
            if field_.unique and not field_.null and not field_.primary_key:
                names.update(columns=f'"{column}"', name=f"{names['table']}_{column}_uniq")
                yield _Candidate(
                    "add_unique",
                    f'AddField adds unique column "{names["table"]}"."{column}" to an existing table: every '
                    "existing row gets the same value, so the migration fails on a table with two rows or more.",
                    names,
                    table=names["table"],
                    column=column,
                )
        elif isinstance(operation, ops.AddConstraint) and isinstance(operation.constraint, UniqueConstraint):
            model_state = self._model(state, app_label, operation.model_name)
            if model_state is None:
                return
            constraint = operation.constraint
            names = self._base_names(app_label, model_state)
            columns = [self._column_of(model_state, name) for name in constraint.fields]
            names.update(columns=", ".join(f'"{c}"' for c in columns), name=constraint.name)
            yield _Candidate(
                "add_unique",
                f'AddConstraint adds unique constraint "{constraint.name}" on "{names["table"]}" '
                f"({names['columns']}): it fails on existing duplicates, and the running release keeps writing them.",
                names,
                table=names["table"],
            )
        elif isinstance(operation, ops.AlterUniqueTogether):
            model_state = self._model(state, app_label, operation.name)
            if model_state is None:
                return
            old = {tuple(group) for group in model_state.options.get("unique_together") or ()}
            added = [group for group in (operation.option_value or ()) if tuple(group) not in old]
            if not added:
                return
            names = self._base_names(app_label, model_state)
            columns = [self._column_of(model_state, name) for name in added[0]]
            names.update(
                columns=", ".join(f'"{c}"' for c in columns), name=f"{names['table']}_{'_'.join(columns)}_uniq"
            )
            yield _Candidate(
                "add_unique",
                f'AlterUniqueTogether adds unique ({names["columns"]}) on "{names["table"]}": it fails on existing '
                "duplicates, and the running release keeps writing them.",
                names,
                table=names["table"],
            )

    def _column_of(self, model_state: ModelState, name: str) -> str:
        field_ = self._get_field(model_state, name)
        return self._column(field_, name) if field_ is not None else name

    def _alter_field_rules(
        self, app_label: str, operation: ops.AlterField, state: ProjectState
    ) -> Iterator[_Candidate]:
        model_state = self._model(state, app_label, operation.model_name)
        if model_state is None:
            return
        old = self._get_field(model_state, operation.name)
        new = operation.field
        if old is None or old.many_to_many or new.many_to_many:
            return
        names = self._base_names(app_label, model_state, operation.name)
        table, column = names["table"], names["column"]
        change = self._type_change(old, new)
        if change == "change":
            old_type, new_type = self._db_type(old), self._db_type(new)
            yield _Candidate(
                "alter_field_type",
                f'AlterField changes the type of "{table}"."{column}" from {old_type} to {new_type}: the running '
                f"release still reads and writes {model_state.name}.{operation.name} as {old_type}.",
                names,
                table=table,
                column=column,
            )
        if old.null and not new.null:
            yield _Candidate(
                "alter_field_null",
                f'AlterField makes "{table}"."{column}" NOT NULL: the running release may still write NULL into '
                f"{model_state.name}.{operation.name}, and the migration fails on rows that hold NULL.",
                names,
                table=table,
                column=column,
            )
        if new.unique and not old.unique and not new.primary_key:
            names.update(columns=f'"{column}"', name=f"{table}_{column}_uniq")
            yield _Candidate(
                "add_unique",
                f'AlterField makes "{table}"."{column}" unique: it fails on existing duplicates, and the running '
                "release keeps writing them.",
                names,
                table=table,
                column=column,
            )

    def _backward_rules(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        if isinstance(operation, ops.AddField):
            model_state = self._model(state, app_label, operation.model_name)
            if model_state is None:
                return
            names = self._base_names(app_label, model_state)
            field_ = operation.field
            names["field"] = operation.name
            if field_.many_to_many:
                table = self._m2m_table(names["table"], operation.name, field_)
                if getattr(field_.remote_field, "through", None):
                    return  # an explicit through model has its own CreateModel
                names["table"] = table
                yield _Candidate(
                    "reverse_drops_table",
                    f'reversing AddField drops the many-to-many table "{table}" of {model_state.name}.'
                    f"{operation.name} and its rows.",
                    names,
                    table=table,
                )
                return
            if isinstance(field_, GeneratedField):
                return
            column = self._column(field_, operation.name)
            names["column"] = column
            yield _Candidate(
                "reverse_drops_column",
                f'reversing AddField drops column "{names["table"]}"."{column}" ({model_state.name}.'
                f"{operation.name}) and the data written into it.",
                names,
                table=names["table"],
                column=column,
            )
        elif isinstance(operation, ops.CreateModel):
            table = operation.options.get("db_table") or self._default_table(app_label, operation.name)
            names = _Names(app=app_label, model=operation.name, model_name=operation.name_lower, table=str(table))
            yield _Candidate(
                "reverse_drops_table",
                f'reversing CreateModel drops table "{table}" ({operation.name}) and its rows.',
                names,
                table=str(table),
            )
            for name, field_ in operation.fields:
                if field_.many_to_many and not getattr(field_.remote_field, "through", None):
                    m2m = self._m2m_table(str(table), name, field_)
                    yield _Candidate(
                        "reverse_drops_table",
                        f'reversing CreateModel drops the many-to-many table "{m2m}" of {operation.name}.{name}.',
                        _Names(names, table=m2m),
                        table=m2m,
                    )
        elif isinstance(operation, ops.RemoveField):
            model_state = self._model(state, app_label, operation.model_name)
            if model_state is None:
                return
            field_ = self._get_field(model_state, operation.name)
            if field_ is None or field_.many_to_many or not self._cannot_be_re_added(field_):
                return
            names = self._base_names(app_label, model_state, operation.name)
            yield _Candidate(
                "reverse_not_null_without_default",
                f'reversing RemoveField adds NOT NULL column "{names["table"]}"."{names["column"]}" back '
                "without a default: it fails as soon as the table has a row.",
                names,
                table=names["table"],
                column=names["column"],
            )

    # A data migration over a large table ---------------------------------------------------------

    def _data_migration_rules(
        self, migration: Migration, operation: Operation, state: ProjectState
    ) -> Iterator[_Candidate]:
        """RunPython (the models it loads with ``apps.get_model``) and RunSQL UPDATE/DELETE, on a table
        that existed before the plan and runs in one transaction. Kept only when the table is large
        (:mod:`django_cicd.migrations_safety.sizes`)."""
        app_label = migration.app_label
        what = describe(operation)
        if isinstance(operation, ops.RunSQL):
            for statement in tables_module.sql_statements(operation.sql):
                match = _DML.match(statement)
                if match is None:
                    continue
                table = match.group("table")
                if self.exempt_new_tables and self.tables.is_new(table):
                    continue
                verb = match.group("verb").upper()
                yield _Candidate(
                    "data_migration_unbatched",
                    f'{what} runs {verb} over "{table}" as one statement, in one transaction.',
                    _Names(app=app_label, table=table, verb=verb),
                    table=table,
                    origin=self.tables.origin(table),
                )
            return
        if not isinstance(operation, ops.RunPython) or not _in_one_transaction(migration, operation, self.connection):
            return
        for key in _code_models(operation, app_label, state):
            model_state = state.models[key]
            if not has_table(model_state):
                continue
            table = self._table(key[0], model_state)
            if self.exempt_new_tables and self.tables.is_new(table):
                continue
            names = _Names(app=key[0], model=model_state.name, model_name=model_state.name_lower, table=table)
            yield _Candidate(
                "data_migration_unbatched",
                f'{what} loads {model_state.name} ("{table}") and runs in one transaction: every row it changes '
                "stays locked until the migration ends.",
                names,
                table=table,
                origin=self.tables.origin(table),
            )

    # The rollback window: what reversing breaks for the new code --------------------------------

    def _window_rules(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        """Findings about the new code that serves while the schema goes back; each is kept only if the
        new code (the state at the end of the plan) still uses what it names (see :meth:`keep`)."""
        if isinstance(operation, ops.RemoveField):
            model_state = self._model(state, app_label, operation.model_name)
            field_ = self._get_field(model_state, operation.name) if model_state is not None else None
            if model_state is None or field_ is None or field_.many_to_many or isinstance(field_, GeneratedField):
                return
            if field_.null or field_.db_default is not NOT_PROVIDED or self._cannot_be_re_added(field_):
                return  # nullable or with a database default: the new code's INSERTs still work
            names = self._base_names(app_label, model_state, operation.name)
            table, column = names["table"], names["column"]
            default = _default_words(field_)
            names["default"] = default
            yield _Candidate(
                "window_not_null_column",
                f'reversing RemoveField adds "{table}"."{column}" back NOT NULL without a database default: until '
                f"the previous image serves, the new release cannot add a {model_state.name} (its INSERTs leave the "
                f"column out), and the existing rows get {default} instead of the values they had.",
                names,
                table=table,
                column=column,
                window=_Window(self.tables.identity(table), column, used=False),
            )
        elif isinstance(operation, ops.CreateModel):
            table = str(operation.options.get("db_table") or self._default_table(app_label, operation.name))
            names = _Names(app=app_label, model=operation.name, model_name=operation.name_lower, table=table)
            yield _Candidate(
                "window_drops_table",
                f'reversing CreateModel drops table "{table}" while the new release still reads and writes '
                f"{operation.name}.",
                names,
                table=table,
                window=_Window(self.tables.identity(table)),
            )
        elif isinstance(operation, ops.AddField):
            model_state = self._model(state, app_label, operation.model_name)
            field_ = operation.field
            if model_state is None or field_.many_to_many or isinstance(field_, GeneratedField):
                return
            names = self._base_names(app_label, model_state)
            column = self._column(field_, operation.name)
            names.update(field=operation.name, column=column)
            yield _Candidate(
                "window_drops_column",
                f'reversing AddField drops "{names["table"]}"."{column}" while the new release still selects and '
                f"writes {model_state.name}.{operation.name}.",
                names,
                table=names["table"],
                column=column,
                window=_Window(self.tables.identity(names["table"]), column),
            )
        elif isinstance(operation, (ops.RenameField, ops.RenameModel, ops.AlterModelTable)):
            yield from self._window_renames(app_label, operation, state)
        else:
            yield from self._window_unique(app_label, operation, state)

    def _window_renames(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        if isinstance(operation, ops.RenameField):
            model_state = self._model(state, app_label, operation.model_name)
            field_ = self._get_field(model_state, operation.old_name) if model_state is not None else None
            if model_state is None or field_ is None or field_.many_to_many:
                return
            old, new = self._column(field_, operation.old_name), self._column(field_, operation.new_name)
            if old == new:
                return
            names = self._base_names(app_label, model_state, operation.old_name)
            names.update(new_field=operation.new_name, new_column=new, old_name=old, new_name=new)
            yield _Candidate(
                "window_rename",
                f'reversing RenameField renames "{names["table"]}"."{new}" back to "{old}" while the new release '
                f"still uses {model_state.name}.{operation.new_name}.",
                names,
                table=names["table"],
                column=new,
                window=_Window(self.tables.identity(names["table"])),
            )
            return
        events = tables_module.events(app_label, operation, state, self.max_name_length)
        renames = [event for event in events if event.kind == "rename"]
        if not renames:
            return
        old, new = renames[0].table, str(renames[0].new)
        model_state = self._operation_model(app_label, operation, state)
        model = model_state.name if model_state is not None else "?"
        names = _Names(app=app_label, model=model, table=new, old_name=old, new_name=new)
        yield _Candidate(
            "window_rename",
            f'reversing {describe(operation)} renames table "{new}" back to "{old}" while the new release still '
            f'queries "{new}".',
            names,
            table=new,
            window=_Window(self.tables.identity(old)),
        )

    def _window_unique(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        """A unique constraint the deploy removed comes back: RemoveConstraint, AlterField, AlterUniqueTogether."""
        name = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        model_state = self._model(state, app_label, name) if name else None
        if model_state is None:
            return
        columns: list[str] = []
        constraint = ""
        if isinstance(operation, ops.RemoveConstraint):
            found = next((c for c in model_state.options.get("constraints", []) if c.name == operation.name), None)
            if isinstance(found, UniqueConstraint) and found.fields:
                columns = [self._column_of(model_state, f) for f in found.fields]
                constraint = found.name
        elif isinstance(operation, ops.AlterField):
            old = self._get_field(model_state, operation.name)
            if old is not None and old.unique and not old.primary_key and not operation.field.unique:
                columns = [self._column(old, operation.name)]
        elif isinstance(operation, ops.AlterUniqueTogether):
            new = {tuple(group) for group in (operation.option_value or ())}
            removed = [g for g in model_state.options.get("unique_together") or () if tuple(g) not in new]
            if removed:
                columns = [self._column_of(model_state, f) for f in removed[0]]
        if not columns:
            return
        names = self._base_names(app_label, model_state)
        quoted = ", ".join(f'"{c}"' for c in columns)
        names.update(columns=quoted, name=constraint or f"unique ({quoted})")
        yield _Candidate(
            "window_unique",
            f'reversing {describe(operation)} adds unique ({quoted}) back on "{names["table"]}": it fails on the '
            "duplicates the new release wrote since the deploy, and its duplicate writes fail afterwards.",
            names,
            table=names["table"],
            window=_Window(self.tables.identity(names["table"])),
        )

    @staticmethod
    def _cannot_be_re_added(field_: Field[Any, Any]) -> bool:
        if field_.null or field_.has_default() or field_.db_default is not NOT_PROVIDED:
            return False
        if field_.blank and field_.empty_strings_allowed:
            return False  # Django fills "" in
        return not (getattr(field_, "auto_now", False) or getattr(field_, "auto_now_add", False))

    # Types ------------------------------------------------------------------------------------

    def _db_type(self, field_: Field[Any, Any]) -> str | None:
        try:
            value = field_.db_type(self.connection)
        except Exception:  # noqa: BLE001 (an unbound relation cannot tell its type)
            return None
        return value.lower() if value else None

    def _type_change(self, old: Field[Any, Any], new: Field[Any, Any]) -> str:
        """ "same", "widening" (the old code keeps working) or "change"."""
        if old.is_relation or new.is_relation:
            if old.is_relation and new.is_relation:
                return "same"
            return "change"
        old_type, new_type = self._db_type(old), self._db_type(new)
        if old_type is None or new_type is None or old_type == new_type:
            return "same"
        return "widening" if _widening(old_type, new_type) else "change"

    def _rewrites(self, old: Field[Any, Any], new: Field[Any, Any]) -> bool:
        """Whether the vendor rewrites (PostgreSQL) or copies (MySQL) the table for this type change."""
        if old.is_relation or new.is_relation:
            return False
        old_type, new_type = self._db_type(old), self._db_type(new)
        if old_type is None or new_type is None or old_type == new_type:
            return False
        if self.vendor == "postgresql":
            return not _pg_no_rewrite(old_type, new_type)
        return not _mysql_in_place(old_type, new_type)

    # SQL rules --------------------------------------------------------------------------------

    def _sql_context(self, app_label: str, operation: Operation, state: ProjectState) -> _SqlContext:
        """The names, the (old, new) field of an AlterField, and the tables of the indexes a RunSQL
        drops, read before the operation changes the state."""
        if isinstance(operation, ops.RunSQL):
            dropped = {
                m.group("name") for s in tables_module.sql_statements(operation.sql) if (m := _DROP_INDEX.match(s))
            }
            return _SqlContext(_Names(), None, self._index_tables(state, dropped) if dropped else {})
        model_name = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        model_state = self._model(state, app_label, model_name) if model_name else None
        if model_state is None:
            return _SqlContext(_Names())
        field_name = getattr(operation, "name", None) if isinstance(operation, FieldOperation) else None
        names = self._base_names(app_label, model_state, field_name)
        if isinstance(operation, ops.AddField):
            names["column"] = self._column(operation.field, operation.name)
        if isinstance(operation, ops.AlterField):
            old = self._get_field(model_state, operation.name)
            if old is not None:
                return _SqlContext(names, (old, operation.field))
        return _SqlContext(names)

    def _index_tables(self, state: ProjectState, wanted: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for (app_label, _name), model_state in state.models.items():
            for item in [*model_state.options.get("indexes", []), *model_state.options.get("constraints", [])]:
                if getattr(item, "name", None) in wanted:
                    found[item.name] = self._table(app_label, model_state)
        return found

    def _sql_rules(self, statements: list[str], context: _SqlContext, new_before: set[str]) -> Iterator[_Candidate]:
        if self.vendor not in _SQL_VENDORS:
            return
        for statement in statements:
            names = _Names(context.names)
            dropped = _DROP_INDEX.match(statement)
            table = _table_of(statement) or (
                context.index_tables.get(dropped.group("name"), context.names["table"]) if dropped else None
            )
            names["table"] = table or context.names["table"]
            if self.exempt_new_tables and (names["table"] in new_before or self.tables.is_new(names["table"])):
                continue  # a table this plan created: nothing to lock yet
            if self.vendor == "postgresql":
                candidates = list(self._pg_rules(statement, names, context.alter))
                if dropped and not dropped.group("concurrently"):
                    candidates.append(self._pg_drop_index(statement, names, dropped.group("name")))
            else:
                candidates = list(self._mysql_rules(statement, names, context.alter))
            for candidate in candidates:
                if candidate.table and candidate.table != "?":
                    candidate.origin = self.tables.origin(candidate.table)
                yield candidate

    def _pg_drop_index(self, statement: str, names: _Names, index: str) -> _Candidate:
        table = names["table"]
        concurrent = re.sub(r"^(\s*DROP\s+INDEX)\s+", r"\1 CONCURRENTLY ", statement.strip().rstrip(";"), flags=re.I)
        return _Candidate(
            "pg_drop_index_not_concurrent",
            f'DROP INDEX "{index}" without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "{table}": reads and writes '
            "queue behind it until it ends.",
            _Names(names, name=index, concurrent_sql=concurrent),
            table=None if table == "?" else table,
        )

    def _pg_rules(
        self, statement: str, names: _Names, alter: tuple[Field[Any, Any], Field[Any, Any]] | None
    ) -> Iterator[_Candidate]:
        table = names["table"]
        index = _CREATE_INDEX.search(statement)
        unique = _ADD_UNIQUE.search(statement)
        if index and not index.group("concurrently"):
            name = index.group("name")
            yield _Candidate(
                "pg_index_not_concurrent",
                f'CREATE INDEX "{name}" on "{table}" without CONCURRENTLY blocks every write to "{table}" '
                "until the index is built.",
                _Names(names, name=name, concurrent_sql=hints_module.concurrently(statement)),
                table=table,
            )
        elif unique:
            name = unique.group("name")
            concurrent = f'CREATE UNIQUE INDEX CONCURRENTLY "{name}" ON "{table}" ({unique.group("columns")})'
            yield _Candidate(
                "pg_index_not_concurrent",
                f'ADD CONSTRAINT "{name}" UNIQUE builds its index on "{table}" while blocking every write to it.',
                _Names(names, name=name, concurrent_sql=concurrent),
                table=table,
            )
        constraint = _ADD_CONSTRAINT.search(statement) or _INLINE_FOREIGN_KEY.search(statement)
        if constraint and not _NOT_VALID.search(statement):
            name = constraint.group("name")
            kind = constraint.group("kind").upper() if "kind" in constraint.groupdict() else "FOREIGN KEY"
            not_valid = statement.split(";")[0].rstrip() + " NOT VALID"
            if kind.startswith("FOREIGN"):
                reference = _REFERENCES.search(statement)
                if reference:
                    not_valid = (
                        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{names["column"]}") '
                        f"REFERENCES {reference.group('target')} DEFERRABLE INITIALLY DEFERRED NOT VALID"
                    )
                yield _Candidate(
                    "pg_foreign_key_not_valid",
                    f'foreign key "{name}" on "{table}" is added and validated at once, locking "{table}" and '
                    "the referenced table against writes while every row is checked.",
                    _Names(names, name=name, not_valid_sql=not_valid),
                    table=table,
                )
            else:
                yield _Candidate(
                    "pg_check_not_valid",
                    f'check constraint "{name}" on "{table}" is added and validated at once, scanning every row '
                    "under an ACCESS EXCLUSIVE lock.",
                    _Names(names, name=name),
                    table=table,
                )
        if _SET_NOT_NULL.search(statement):
            yield _Candidate(
                "pg_set_not_null",
                f'SET NOT NULL on "{table}"."{names["column"]}" scans every row under an ACCESS EXCLUSIVE lock.',
                names,
                table=table,
                column=names["column"],
            )
        if _ALTER_TYPE.search(statement) and alter is not None and self._rewrites(*alter):
            old_type, new_type = self._db_type(alter[0]), self._db_type(alter[1])
            yield _Candidate(
                "pg_column_rewrite",
                f'changing "{table}"."{names["column"]}" from {old_type} to {new_type} rewrites the table and its '
                "indexes under an ACCESS EXCLUSIVE lock.",
                names,
                table=table,
                column=names["column"],
            )
        # Names and constants are quoted: a column named "serial" or a default's text that mentions
        # random() is not a volatile default.
        volatile = _VOLATILE_DEFAULT.search(_QUOTED.sub("''", statement))
        if volatile:
            yield _Candidate(
                "pg_volatile_default",
                f'column "{names["column"]}" is added to "{table}" with the volatile default '
                f"{volatile.group('function')}: the table is rewritten under an ACCESS EXCLUSIVE lock.",
                names,
                table=table,
                column=names["column"],
            )

    def _mysql_rules(
        self, statement: str, names: _Names, alter: tuple[Field[Any, Any], Field[Any, Any]] | None
    ) -> Iterator[_Candidate]:
        table = names["table"]
        constraint = _ADD_CONSTRAINT.search(statement)
        if constraint and constraint.group("kind").upper().startswith("FOREIGN"):
            yield _Candidate(
                "mysql_table_copy",
                f"adding foreign key `{constraint.group('name')}` copies table `{table}` (ALGORITHM=COPY while "
                "foreign_key_checks is on); writes wait until the copy ends.",
                _Names(names, kind="foreign_key"),
                table=table,
            )
        elif _MYSQL_MODIFY.search(statement) and alter is not None and self._rewrites(*alter):
            old_type, new_type = self._db_type(alter[0]), self._db_type(alter[1])
            yield _Candidate(
                "mysql_table_copy",
                f"changing `{table}`.`{names['column']}` from {old_type} to {new_type} copies the table "
                "(ALGORITHM=COPY); writes wait until the copy ends.",
                _Names(names, kind="type"),
                table=table,
                column=names["column"],
            )


# --- SQL patterns and type rules ----------------------------------------------------------------

_Q = r"[\"`]?"
_CREATE_INDEX = re.compile(
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_Q}(?P<name>[^\s\"`]+){_Q}",
    re.I,
)
_ADD_UNIQUE = re.compile(rf"ADD\s+CONSTRAINT\s+{_Q}(?P<name>[^\s\"`]+){_Q}\s+UNIQUE\s*\((?P<columns>[^)]*)\)", re.I)
_ADD_CONSTRAINT = re.compile(rf"ADD\s+CONSTRAINT\s+{_Q}(?P<name>[^\s\"`]+){_Q}\s+(?P<kind>FOREIGN\s+KEY|CHECK)\b", re.I)
_INLINE_FOREIGN_KEY = re.compile(
    rf"ADD\s+COLUMN\s+.*?CONSTRAINT\s+{_Q}(?P<name>[^\s\"`]+){_Q}\s+REFERENCES\b", re.I | re.S
)
_REFERENCES = re.compile(r"REFERENCES\s+(?P<target>\S+?\s*\([^)]*\))", re.I)
_NOT_VALID = re.compile(r"\bNOT\s+VALID\b", re.I)
_SET_NOT_NULL = re.compile(r"ALTER\s+COLUMN\s+\S+\s+SET\s+NOT\s+NULL", re.I)
_ALTER_TYPE = re.compile(r"ALTER\s+COLUMN\s+\S+\s+TYPE\s", re.I)
_MYSQL_MODIFY = re.compile(r"\bMODIFY\s+(?:COLUMN\s+)?\S+\s", re.I)
_VOLATILE_DEFAULT = re.compile(
    r"ADD\s+COLUMN\s+.*?(?:\bDEFAULT\s*\(?\s*(?P<function>RANDOM|GEN_RANDOM_UUID|UUID_GENERATE_V\w+|UUIDV[47]|"
    r"CLOCK_TIMESTAMP|TIMEOFDAY|NEXTVAL)\s*\(|\b(?P<serial>SMALLSERIAL|BIGSERIAL|SERIAL)\b|GENERATED\s+\w+(?:\s+\w+)?\s+AS\s+IDENTITY)",
    re.I | re.S,
)
#: A quoted identifier or string constant (a doubled quote inside is part of it).
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_TABLE = re.compile(
    rf"(?:ALTER\s+TABLE|\bON|CREATE\s+TABLE|DROP\s+TABLE)\s+(?:ONLY\s+)?{_Q}(?P<table>[^\s\"`(]+){_Q}", re.I
)
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
_TEXT = {"text", "longtext", "mediumtext"}
_INTEGERS = ["smallint", "integer", "bigint"]


_DROP_INDEX = re.compile(
    rf"^\s*DROP\s+INDEX\s+(?P<concurrently>CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?:{_Q}\w+{_Q}\.)?{_Q}(?P<name>[^\s\"`;]+){_Q}",
    re.I,
)
_DML = re.compile(
    rf"^\s*(?:WITH\b.*?\)\s*)?(?P<verb>UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(?:{_Q}\w+{_Q}\.)?{_Q}(?P<table>\w+){_Q}",
    re.I | re.S,
)


def _in_one_transaction(migration: Migration, operation: Operation, connection: BaseDatabaseWrapper) -> bool:
    """Whether ``migrate`` runs ``operation`` inside one transaction (``Migration.apply``'s rule)."""
    atomic = getattr(operation, "atomic", False)
    whole_migration = connection.features.can_rollback_ddl and migration.atomic
    return bool(whole_migration or atomic or (migration.atomic and atomic is not False))


def _code_constants(code: Any) -> set[str]:
    """The string constants of a function and of the functions nested in it."""
    found: set[str] = set()
    queue = [getattr(code, "__code__", None)]
    while queue:
        current = queue.pop()
        if not isinstance(current, CodeType):
            continue
        for constant in current.co_consts:
            if isinstance(constant, str):
                found.add(constant)
            elif isinstance(constant, CodeType):
                queue.append(constant)
    return found


def _code_models(operation: ops.RunPython, app_label: str, state: ProjectState) -> list[tuple[str, str]]:
    """The models a RunPython names the way ``apps.get_model`` is called: ("app", "Model") or "app.Model",
    and the model of its ``hints``."""
    constants = _code_constants(operation.code)
    found: set[tuple[str, str]] = set()
    hinted = operation.hints.get("model_name") if isinstance(operation.hints, dict) else None
    if isinstance(hinted, str):
        found.add((app_label, hinted.lower()))
    labels = {key[0] for key in state.models}
    apps_named = {c for c in constants if c in labels}
    for constant in constants:
        if "." in constant:
            app, _, model = constant.partition(".")
            found.add((app, model.lower()))
        else:
            found.update((app, constant.lower()) for app in apps_named)
    return sorted(key for key in found if key in state.models)


def _data_only(migration: Migration) -> bool:
    """A migration that changes data and no schema: RunPython, and RunSQL without DDL."""
    if not migration.operations:
        return False
    for operation in migration.operations:
        if isinstance(operation, ops.RunPython):
            continue
        if isinstance(operation, ops.RunSQL) and not operation.state_operations:
            statements = tables_module.sql_statements(operation.sql)
            if statements and all(_DATA_STATEMENT.match(s) for s in statements):
                continue
        return False
    return True


_DATA_STATEMENT = re.compile(r"^\s*(?:WITH\b|UPDATE\b|DELETE\b|INSERT\b|SELECT\b)", re.I)


def _default_words(field_: Field[Any, Any]) -> str:
    """What a re-added column is filled with, in words."""
    if getattr(field_, "auto_now", False) or getattr(field_, "auto_now_add", False):
        return "the time of the rollback"
    if field_.has_default():
        default = field_.default
        if callable(default):
            return f"the value of {getattr(default, '__qualname__', 'its default')}()"
        return f"the default {default!r}"
    return "an empty string"


def _table_of(statement: str) -> str | None:
    match = _TABLE.search(statement)
    return match.group("table") if match else None


def _widening(old: str, new: str) -> bool:
    """Whether values of ``old`` all fit ``new``, so the previous release keeps working."""
    return _pg_no_rewrite(old, new) or (
        old in _INTEGERS and new in _INTEGERS and _INTEGERS.index(new) > _INTEGERS.index(old)
    )


def _pg_no_rewrite(old: str, new: str) -> bool:
    old_varchar, new_varchar = _VARCHAR.match(old), _VARCHAR.match(new)
    if old_varchar and (new in _TEXT or (new_varchar and int(new_varchar.group(1)) >= int(old_varchar.group(1)))):
        return True
    old_numeric, new_numeric = _NUMERIC.match(old), _NUMERIC.match(new)
    return bool(
        old_numeric
        and new_numeric
        and old_numeric.group(2) == new_numeric.group(2)
        and int(new_numeric.group(1)) >= int(old_numeric.group(1))
    )


def _mysql_in_place(old: str, new: str) -> bool:
    """Widening a VARCHAR is in place while its length prefix keeps its size (255 bytes, utf8mb4: 4 per char)."""
    old_varchar, new_varchar = _VARCHAR.match(old), _VARCHAR.match(new)
    if not (old_varchar and new_varchar):
        return False
    old_length, new_length = int(old_varchar.group(1)), int(new_varchar.group(1))
    return new_length >= old_length and (old_length * 4 < 256) == (new_length * 4 < 256)
