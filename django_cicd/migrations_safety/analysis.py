"""Walk a migration plan operation by operation, keep the project state, collect the SQL, apply the rules.

The walk mirrors what ``migrate`` does (``Migration.apply``): the state before each operation, the
operation's ``state_forwards``, and its ``database_forwards`` run against a schema editor created with
``collect_sql=True``, so the SQL of the target vendor is rendered and never executed. The schema
editor is not entered: nothing is sent to the database except the introspection queries some
operations make (an AlterField looking up constraint names), which only read the catalog.

A backwards plan is walked in forward order too (the state is built forwards), and its findings are
reported in the order the reversal would meet them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import truncate_name
from django.db.migrations import operations as ops
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import NOT_PROVIDED, Field, ForeignKey, GeneratedField, UniqueConstraint

from django_cicd import planning
from django_cicd.conf import cicd_settings
from django_cicd.migrations_safety import hints as hints_module
from django_cicd.migrations_safety.acceptance import ACCEPT_ATTRIBUTE, app_acceptances, parse_acceptances
from django_cicd.migrations_safety.locations import acceptance_location, migration_path, operation_location
from django_cicd.migrations_safety.rendering import PartialRenderer
from django_cicd.migrations_safety.rules import PREFIX, RULES
from django_cicd.report import Finding, Location, Severity, Waiver

DIRECTIONS = ("forwards", "backwards")


@dataclass
class SafetyFinding:
    """One risk found in one operation of a plan."""

    rule_id: str
    severity: Severity
    app_label: str
    migration_name: str
    #: Index of the operation in ``Migration.operations`` (None for a finding about the migration).
    operation_index: int | None
    #: ``operation.describe()``.
    operation: str
    message: str
    #: Numbered safe steps with the real names.
    hint: str
    #: "deploy" (breaks or locks while migrating) or "rollback" (bites when the plan is reversed).
    when: str
    location: Location | None
    accepted_reason: str | None = None
    #: False when the SQL of this migration could not be rendered: only the operation was analysed.
    sql_rendered: bool = True
    #: The table and column at risk (dropped on rollback, locked, rewritten), when there is one.
    table: str | None = None
    column: str | None = None
    #: The statements of the operation, as the schema editor rendered them for the vendor.
    sql: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def migration_label(self) -> str:
        return f"{self.app_label}.{self.migration_name}"

    @property
    def accepted(self) -> bool:
        return self.accepted_reason is not None

    @property
    def blocking(self) -> bool:
        return not self.accepted and self.severity >= Severity.ERROR

    def as_finding(self) -> Finding:
        return Finding(
            message=self.message,
            severity=self.severity,
            hint=self.hint,
            code=self.rule_id,
            location=self.location,
            waiver=Waiver(id=self.rule_id, reason=self.accepted_reason) if self.accepted_reason else None,
            extra={
                "migration": self.migration_label,
                "operation_index": self.operation_index,
                "operation": self.operation,
                "when": self.when,
                "table": self.table,
                "column": self.column,
                "sql_rendered": self.sql_rendered,
                "sql": list(self.sql),
                **self.extra,
            },
        )


@dataclass
class SafetyReport:
    database: str
    vendor: str
    direction: str
    #: The migrations analysed, in the order of the plan.
    migrations: list[str]
    findings: list[SafetyFinding] = field(default_factory=list)
    #: ``{migration label: error}`` for each migration whose SQL could not be rendered.
    not_rendered: dict[str, str] = field(default_factory=dict)

    @property
    def blocking(self) -> list[SafetyFinding]:
        """Findings not accepted with severity ERROR or above: safe_migrate stops on these."""
        return [f for f in self.findings if f.blocking]

    @property
    def accepted(self) -> list[SafetyFinding]:
        return [f for f in self.findings if f.accepted]

    @property
    def irreversible(self) -> list[SafetyFinding]:
        """Operations that make the plan impossible to reverse (no reverse at all)."""
        return [f for f in self.findings if f.rule_id == PREFIX + "irreversible"]

    @property
    def noop_reverses(self) -> list[SafetyFinding]:
        return [f for f in self.findings if f.rule_id == PREFIX + "noop_reverse"]

    @property
    def data_loss(self) -> list[SafetyFinding]:
        """Columns and tables a backwards plan drops (``table`` and ``column`` set): rows to count."""
        rules = {PREFIX + "reverse_drops_column", PREFIX + "reverse_drops_table"}
        return [f for f in self.findings if f.rule_id in rules]

    def as_findings(self) -> list[Finding]:
        return [f.as_finding() for f in self.findings]


def analyse_plan(
    plan: Iterable[planning.PlanStep],
    *,
    database: str = DEFAULT_DB_ALIAS,
    loader: MigrationLoader | None = None,
    direction: str = "forwards",
    exempt_new_tables: bool = True,
    render_sql: bool = True,
    only: Collection[tuple[str, str]] | None = None,
) -> SafetyReport:
    """Analyse the operations of ``plan`` for the vendor of ``database``.

    ``direction="forwards"`` judges a deploy (what breaks or locks, what cannot be undone);
    ``"backwards"`` judges a reversal (what cannot be undone, what data it drops). With
    ``exempt_new_tables`` (the default) operations on a table created earlier in the same plan are
    not flagged; turn it off to lint every migration as if its tables existed. With ``only``, the
    other migrations of the plan are walked (the state and the new tables follow them) but not
    analysed: that is how a selection that is not a whole plan is analysed (see
    :func:`django_cicd.migrations_safety.sources.analyse_selection`).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'forwards' or 'backwards', not {direction!r}")
    steps = list(plan)
    backwards = direction == "backwards"
    wrong = [step.label for step in steps if step.backwards != backwards]
    if wrong:
        raise ValueError(
            f"analyse_plan(direction={direction!r}) was given steps of the other direction: {', '.join(wrong)}"
        )
    loader = loader if loader is not None else planning.load_graph()
    connection = connections[database]
    forward_order = [step.migration for step in (reversed(steps) if backwards else steps)]
    walker = _Walker(connection, direction, exempt_new_tables=exempt_new_tables, render_sql=render_sql)
    state = _state_before(loader, forward_order)
    per_migration = [
        walker.migration(migration, state)
        if only is None or (migration.app_label, migration.name) in only
        else walker.walk(migration, state)
        for migration in forward_order
    ]
    if backwards:
        per_migration = [list(reversed(found)) for found in reversed(per_migration)]
    return SafetyReport(
        database=database,
        vendor=connection.vendor,
        direction=direction,
        migrations=[step.label for step in steps if only is None or step.key in only],
        findings=[finding for found in per_migration for finding in found],
        not_rendered=walker.not_rendered,
    )


def describe(operation: Operation) -> str:
    """``operation.describe()``, naming the function of a RunPython (Django says "Raw Python operation")."""
    if isinstance(operation, ops.RunPython):
        return f"RunPython {getattr(operation.code, '__qualname__', 'operation')}"
    if isinstance(operation, ops.RunSQL):
        return "RunSQL"
    return str(operation.describe())


def _state_before(loader: MigrationLoader, migrations: Sequence[Migration]) -> ProjectState:
    """The project state just before the first of ``migrations``: their parents outside the plan, applied."""
    keys = {(m.app_label, m.name) for m in migrations}
    parents: set[tuple[str, str]] = set()
    for key in keys:
        node = loader.graph.node_map.get(key)
        if node is not None:
            parents.update(parent.key for parent in node.parents if parent.key not in keys)
    if not parents:
        return ProjectState(real_apps=loader.unmigrated_apps)
    return loader.project_state(nodes=sorted(parents), at_end=True)


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


class _Walker:
    def __init__(self, connection: BaseDatabaseWrapper, direction: str, *, exempt_new_tables: bool, render_sql: bool):
        self.connection = connection
        self.vendor = connection.vendor
        self.direction = direction
        self.backwards = direction == "backwards"
        self.exempt_new_tables = exempt_new_tables
        self.render_sql = render_sql and not self.backwards
        self.app_accept = app_acceptances(cicd_settings.MIGRATION_SAFETY)
        #: (app_label, model_name) of the models created earlier in this plan.
        self.new_models: set[tuple[str, str]] = set()
        self.not_rendered: dict[str, str] = {}
        self.max_name_length = connection.ops.max_name_length()
        #: Every change of the state goes through it, so that it knows which rendered models are stale.
        self.renderer = PartialRenderer()

    # One migration ---------------------------------------------------------------------------

    def walk(self, migration: Migration, state: ProjectState) -> list[SafetyFinding]:
        """Move ``state`` past ``migration`` without analysing it."""
        for operation in migration.operations:
            self._track_new(migration.app_label, operation)
            self.renderer.forward(migration.app_label, operation, state)
        return []

    def migration(self, migration: Migration, state: ProjectState) -> list[SafetyFinding]:
        app_label = migration.app_label
        label = f"{app_label}.{migration.name}"
        found: list[SafetyFinding] = []
        class_accept, problems = parse_acceptances(
            getattr(migration, ACCEPT_ATTRIBUTE, None), f"{label} (Migration.{ACCEPT_ATTRIBUTE})"
        )
        for problem in problems:
            found.append(self._invalid_acceptance(migration, None, problem, acceptance_location(migration)))
        editor: BaseDatabaseSchemaEditor | None = None
        for index, operation in enumerate(migration.operations):
            op_accept, op_problems = parse_acceptances(
                getattr(operation, ACCEPT_ATTRIBUTE, None), f"{label} operation {index} ({ACCEPT_ATTRIBUTE})"
            )
            for problem in op_problems:
                location = operation_location(migration, index)
                found.append(self._invalid_acceptance(migration, index, problem, location))
            accepted = {**self.app_accept.get(app_label, {}), **class_accept, **op_accept}
            candidates = list(self._operation_rules(app_label, operation, state))
            statements: list[str] | None = []
            if self.render_sql and operation.reduces_to_sql and not self._exempt(app_label, operation):
                if editor is None:
                    editor = self._editor()
                before = self._sql_context(app_label, operation, state)
                statements, error = self._render(app_label, operation, state, editor)
                if error is not None:
                    editor = None
                    if label not in self.not_rendered:
                        self.not_rendered[label] = error
                        found.append(self._not_rendered(migration, index, operation, error))
                elif not isinstance(operation, ops.CreateModel):  # a new table: nothing to lock yet
                    candidates.extend(self._sql_rules(statements or [], *before))
            else:
                self._track_new(app_label, operation)
                self.renderer.forward(app_label, operation, state)
            seen: set[str] = set()
            for candidate in candidates:
                rule_id = PREFIX + candidate.rule
                if rule_id in seen:
                    continue
                seen.add(rule_id)
                found.append(self._finding(migration, index, operation, candidate, accepted.get(rule_id), statements))
        return found

    def _finding(
        self,
        migration: Migration,
        index: int,
        operation: Operation,
        candidate: _Candidate,
        accepted_reason: str | None,
        statements: list[str] | None,
    ) -> SafetyFinding:
        rule = RULES[PREFIX + candidate.rule]
        names = candidate.names
        names.setdefault("app", migration.app_label)
        names.setdefault("migration", migration.name)
        names.setdefault("migration_path", planning.relative_path(migration_path(migration) or migration.name))
        names.setdefault("direction", self.direction)
        severity = rule.severity
        if candidate.rule == "irreversible" and self.backwards:
            severity = Severity.ERROR
        return SafetyFinding(
            rule_id=rule.id,
            severity=severity,
            app_label=migration.app_label,
            migration_name=migration.name,
            operation_index=index,
            operation=describe(operation),
            message=f"{migration.app_label}.{migration.name}: {candidate.message}",
            hint=hints_module.HINTS[candidate.rule](names),
            when="rollback" if self.backwards else rule.when,
            location=operation_location(migration, index),
            accepted_reason=accepted_reason,
            sql_rendered=statements is not None,
            table=candidate.table,
            column=candidate.column,
            sql=tuple(statements or ()),
            extra={"database": self.connection.alias, "vendor": self.vendor},
        )

    def _invalid_acceptance(
        self, migration: Migration, index: int | None, problem: str, location: Location | None
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
            location=location,
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
            location=operation_location(migration, index),
            sql_rendered=False,
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
        self._track_new(app_label, operation)
        try:
            return self.renderer.render(app_label, operation, state, editor), None
        except Exception as exc:  # noqa: BLE001 (Wagtail's old AlterUniqueTogether: see the docs)
            return None, f"{type(exc).__name__}: {exc}"

    # The "new table" exemption ----------------------------------------------------------------

    def _track_new(self, app_label: str, operation: Operation) -> None:
        if self.backwards:
            return
        if isinstance(operation, ops.CreateModel):
            self.new_models.add((app_label, operation.name_lower))
        elif isinstance(operation, ops.RenameModel) and (app_label, operation.old_name_lower) in self.new_models:
            self.new_models.discard((app_label, operation.old_name_lower))
            self.new_models.add((app_label, operation.new_name_lower))
        elif isinstance(operation, ops.DeleteModel):
            self.new_models.discard((app_label, operation.name_lower))

    def _exempt(self, app_label: str, operation: Operation) -> bool:
        if not self.exempt_new_tables or self.backwards:
            return False
        if isinstance(operation, ops.CreateModel):
            return True
        model: str | None
        if isinstance(operation, ops.RenameModel):
            model = operation.old_name_lower
        else:
            model = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        return model is not None and (app_label, model) in self.new_models

    # Names from the state -------------------------------------------------------------------------

    def _table(self, app_label: str, model_state: ModelState) -> str:
        db_table = model_state.options.get("db_table")
        if db_table:
            return str(db_table)
        return truncate_name(f"{app_label}_{model_state.name_lower}", self.max_name_length)

    def _default_table(self, app_label: str, model_name: str) -> str:
        return truncate_name(f"{app_label}_{model_name.lower()}", self.max_name_length)

    def _m2m_table(self, table: str, name: str, field_: Field[Any, Any]) -> str:
        return str(getattr(field_, "db_table", None) or truncate_name(f"{table}_{name}", self.max_name_length))

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

    def _operation_rules(self, app_label: str, operation: Operation, state: ProjectState) -> Iterator[_Candidate]:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            # Only the database operations touch the database; they run against their own copy of the
            # state, as SeparateDatabaseAndState.database_forwards does.
            database_state = ProjectState(
                models={key: model.clone() for key, model in state.models.items()}, real_apps=state.real_apps
            )
            for inner in operation.database_operations:
                yield from self._operation_rules(app_label, inner, database_state)
                inner.state_forwards(app_label, database_state)
            return
        yield from self._reversibility_rules(operation)
        if self.backwards:
            yield from self._backward_rules(app_label, operation, state)
        elif not self._exempt(app_label, operation):
            yield from self._forward_rules(app_label, operation, state)

    def _reversibility_rules(self, operation: Operation) -> Iterator[_Candidate]:
        what = describe(operation)
        if not operation.reversible:
            if self.backwards:
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
        elif self.backwards and isinstance(operation, (ops.RunPython, ops.RunSQL)):
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

    def _sql_context(
        self, app_label: str, operation: Operation, state: ProjectState
    ) -> tuple[_Names, tuple[Field[Any, Any], Field[Any, Any]] | None]:
        """The names and the (old, new) field of an AlterField, read before the operation changes the state."""
        names = _Names()
        model_name = getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)
        model_state = self._model(state, app_label, model_name) if model_name else None
        if model_state is None:
            return names, None
        field_name = getattr(operation, "name", None) if isinstance(operation, FieldOperation) else None
        names = self._base_names(app_label, model_state, field_name)
        if isinstance(operation, ops.AddField):
            names["column"] = self._column(operation.field, operation.name)
        if isinstance(operation, ops.AlterField):
            old = self._get_field(model_state, operation.name)
            if old is not None:
                return names, (old, operation.field)
        return names, None

    def _sql_rules(
        self, statements: list[str], base: _Names, alter: tuple[Field[Any, Any], Field[Any, Any]] | None
    ) -> Iterator[_Candidate]:
        if self.vendor not in ("postgresql", "mysql"):
            return
        for statement in statements:
            names = _Names(base)
            names["table"] = _table_of(statement) or base["table"]
            if self.vendor == "postgresql":
                yield from self._pg_rules(statement, names, alter)
            else:
                yield from self._mysql_rules(statement, names, alter)

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
        volatile = _VOLATILE_DEFAULT.search(statement)
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
_TABLE = re.compile(
    rf"(?:ALTER\s+TABLE|\bON|CREATE\s+TABLE|DROP\s+TABLE)\s+(?:ONLY\s+)?{_Q}(?P<table>[^\s\"`(]+){_Q}", re.I
)
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
_TEXT = {"text", "longtext", "mediumtext"}
_INTEGERS = ["smallint", "integer", "bigint"]


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
