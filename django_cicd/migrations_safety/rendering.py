"""The SQL of one operation, rendered from the few models it needs instead of the whole project.

``migrate`` keeps one rendered project state and re-renders, after each operation, every model
related to the one that changed; in a project where most models point at the user model that is
the whole project, per operation. Here the project state stays unrendered (its ``state_forwards``
then only edits model states) and each operation gets two small states, before and after, holding
the models it touches, the models they point to (recursively: a relation must resolve to render),
and, where the schema editor follows relations backwards (a primary key or unique column altered,
a table renamed), the models that point to them.

An operation whose needs are not known (a third-party operation class) or that fails on the small
states is rendered from the whole state, as ``migrate`` would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.operations.models import IndexOperation, ModelOperation
from django.db.migrations.state import ModelState, ProjectState, StateApps
from django.db.migrations.utils import resolve_relation
from django.db.models import Field, Model, UniqueConstraint
from django.db.models.options import normalize_together

Key = tuple[str, str]

#: Operations that change no model state and whose SQL needs no model.
_NO_MODELS: tuple[type[Operation], ...] = (ops.RunSQL, ops.RunPython)
try:
    # django.contrib.postgres imports the PostgreSQL driver: a project on SQLite or MySQL may not have
    # one (and then has no migration using these operations either).
    from django.contrib.postgres.operations import CollationOperation, CreateExtension
except ImportError:
    pass
else:
    _NO_MODELS += (CreateExtension, CollationOperation)


class _SmallApps(StateApps):
    """A StateApps whose caches are its own.

    ``Apps.get_models`` and ``Apps.get_swappable_settings_name`` are cached per class, so every model
    a StateApps registers clears the caches of the project's registry too, and the next field
    cloned while rendering scans every installed model again (``migrate`` pays that as well). Here
    they are cached per registry, which leaves the project's registry alone.
    """

    def __init__(self, real_apps: list[str]) -> None:
        self._model_lists: dict[tuple[bool, bool], list[type[Model]]] = {}
        self._swappable: dict[str, str | None] = {}
        super().__init__(real_apps, {})

    def get_models(self, include_auto_created: bool = False, include_swapped: bool = False) -> list[type[Model]]:
        key = (include_auto_created, include_swapped)
        if key not in self._model_lists:
            self.check_models_ready()
            self._model_lists[key] = [
                model
                for app_config in self.app_configs.values()
                for model in app_config.get_models(include_auto_created, include_swapped)
            ]
        return self._model_lists[key]

    def get_swappable_settings_name(self, to_string: str) -> str | None:
        if to_string not in self._swappable:
            found = None
            for model in self.get_models(include_swapped=True):
                swapped = model._meta.swapped
                if swapped and swapped.lower() == to_string.lower():
                    found = model._meta.swappable
                    break
            self._swappable[to_string] = found
        return self._swappable[to_string]

    def clear_cache(self) -> None:
        self._model_lists.clear()
        self._swappable.clear()
        if self.ready:
            for app_config in self.app_configs.values():
                for model in app_config.get_models(include_auto_created=True):
                    model._meta._expire_cache()  # type: ignore[attr-defined]


class _Unknown(Exception):
    """The models an operation needs cannot be told from its class."""


class _Unrendered(Exception):
    """An operation read the models of the side of its states that was not rendered for it."""


class _UnrenderedState(ProjectState):
    """A small state whose models have no classes: the one side an operation does not read."""

    @property
    def apps(self) -> StateApps:
        raise _Unrendered


def _unrendered(state: ProjectState, keys: Iterable[Key]) -> ProjectState:
    """A state of copies of the models ``keys`` of ``state``, without classes."""
    return _UnrenderedState(models={key: state.models[key].clone() for key in keys}, real_apps=state.real_apps)


#: Operations whose ``database_forwards`` reads the classes of the "after" state only, and those
#: that read the "before" state only; should one read the other side, it is rendered from both.
_AFTER_ONLY: tuple[type[Operation], ...] = (ops.AddIndex, ops.AddConstraint)
_BEFORE_ONLY: tuple[type[Operation], ...] = (ops.RemoveField, ops.RemoveIndex)


def _extends(field: Field[Any, Any]) -> bool:
    """Whether an ``AddField`` of ``field`` adds a plain column (not a key, not a relation), which the
    model's cached class can take in place (see :meth:`PartialRenderer._extend`)."""
    return field.remote_field is None and not field.primary_key and not field.unique


def _one_side(operation: Operation, editor: BaseDatabaseSchemaEditor) -> str | None:
    """Which one state ``operation`` is rendered with: "after", "before", or None for both.

    ``AddField`` reads both (the field of the model after, added to the model before), but Django's
    PostgreSQL and MySQL editors read only the table of the model they add the column to, the same
    in both, so there the model after serves as both and the model before is not rendered. SQLite
    rebuilds the table from the model before, and other backends are not known.
    """
    if isinstance(operation, _AFTER_ONLY):
        return "after"
    if isinstance(operation, _BEFORE_ONLY):
        return "before"
    if (
        isinstance(operation, ops.AddField)
        and not operation.field.many_to_many
        and editor.connection.vendor in ("postgresql", "mysql")
        and type(editor).__module__.startswith("django.")
    ):
        return "after"
    return None


class PartialRenderer:
    """Renders operations one after the other, reusing the model classes that have not changed.

    A model class rendered for one operation serves the next ones as long as neither it nor what
    its relations resolve to has changed since. Every change of the state goes through
    :meth:`forward`, which forgets the classes of the models it touches and, unless the change is
    local to one model (see :func:`_local`), moves their *relation version* on: each cached class
    remembers the relation versions of the models it points to (recursively) when it was rendered,
    and is stale once one of them has moved. A column added to a model does not make the models
    pointing to it stale: what their SQL reads of it (its table, its primary key and unique
    columns) is the same.
    """

    def __init__(self) -> None:
        #: key -> (class, {key in its closure: relation version when rendered}, auto-created through models)
        self._classes: dict[Key, tuple[type[Model], dict[Key, int], list[type[Model]]]] = {}
        #: key -> relation version: moved on by every change that is not local to that model.
        self._versions: dict[Key, int] = {}

    def forward(self, app_label: str, operation: Operation, state: ProjectState) -> None:
        """``operation.state_forwards`` on ``state``, forgetting what it changes."""
        if not self._classes:
            operation.state_forwards(app_label, state)  # nothing rendered yet: nothing to forget
            return
        try:
            keys: set[Key] | None = None
            if not isinstance(operation, ops.SeparateDatabaseAndState):
                keys = _touched(app_label, operation, state, before=True)
        except _Unknown:
            keys = None
        local = keys is not None and _local(app_label, operation, state)
        operation.state_forwards(app_label, state)
        if keys is None:
            self._classes.clear()
            return
        try:
            keys |= _touched(app_label, operation, state, before=False)
        except _Unknown:
            self._classes.clear()
            return
        for key in keys:
            self._classes.pop(key, None)
            if not local:
                self._versions[key] = self._versions.get(key, 0) + 1

    def render(
        self, app_label: str, operation: Operation, state: ProjectState, editor: BaseDatabaseSchemaEditor
    ) -> list[str]:
        """Apply ``operation`` to ``state`` (unrendered) and return the SQL the editor collected for it.

        ``state`` always moves forward, whether the SQL could be rendered or not; a rendering error is
        raised after that.
        """
        start = _Mark(editor)
        try:
            needed = _touched(app_label, operation, state, before=True)
        except _Unknown:
            whole_before = state.clone()
            self.forward(app_label, operation, state)
            return _render_with(app_label, operation, whole_before, state, editor, start)
        side = _one_side(operation, editor)
        if side == "after" and isinstance(operation, ops.AddField) and _extends(operation.field):
            key = (app_label, operation.model_name_lower)
            cached = self._classes.get(key)
            if cached is not None and self._current(cached):
                return self._extend(app_label, operation, state, editor, start, needed, key, cached)
        # The schema editor reads the relations pointing to these models from their registry: it
        # must be this one, so they are rendered afresh.
        refresh = isinstance(operation, ops.SeparateDatabaseAndState) or _follows_referrers(app_label, operation, state)
        try:
            if side == "after":
                before: ProjectState = _unrendered(state, needed)
            else:
                before = self._state(state, needed, clone=True, refresh=refresh)
        except Exception:
            self.forward(app_label, operation, state)
            raise
        self.forward(app_label, operation, state)
        try:
            if side == "before":
                after: ProjectState = _unrendered(state, ())
            else:
                after = self._state(state, _touched(app_label, operation, state, before=False), clone=False)
        except (LookupError, ValueError):
            # A relation the small states miss (a custom field pointing somewhere unusual): the whole
            # state knows it. ``state`` has moved on, so "before" is rebuilt from the models of "after".
            return _render_with(app_label, operation, _whole_before(before, state), state, editor, start)
        try:
            if side == "after" and isinstance(operation, ops.AddField):
                # The column is added to the table of the model as it is after the operation: what
                # ``add_field`` reads of the model is its table (see :func:`_one_side`).
                operation.database_forwards(app_label, editor, after, after)
            else:
                operation.database_forwards(app_label, editor, before, after)
        except (LookupError, _Unrendered):
            start.undo()
            return _render_with(app_label, operation, _whole_before(before, state), state, editor, start)
        return start.taken()

    def _current(self, cached: tuple[type[Model], dict[Key, int], list[type[Model]]]) -> bool:
        """Whether what the relations of a cached class resolve to is as it was when it was rendered."""
        versions = self._versions
        return all(versions.get(dep, 0) == version for dep, version in cached[1].items())

    def _extend(
        self,
        app_label: str,
        operation: ops.AddField,
        state: ProjectState,
        editor: BaseDatabaseSchemaEditor,
        start: _Mark,
        needed: set[Key],
        key: Key,
        cached: tuple[type[Model], dict[Key, int], list[type[Model]]],
    ) -> list[str]:
        """Render a plain column's ``AddField`` by adding the field to the model's cached class.

        The class then is the model after the operation, as a fresh render would give it (the
        field, cloned from the state, comes last, as it does in the state), and stays cached: no
        class is rendered. Should anything fail, the class is forgotten and the operation rendered
        from the whole state.
        """
        before = _unrendered(state, needed)
        self.forward(app_label, operation, state)
        cls = cached[0]
        try:
            field = state.models[key].fields[operation.name].clone()
            field.contribute_to_class(cls, operation.name)
            after = ProjectState(models={key: state.models[key]}, real_apps=state.real_apps)
            apps = cls._meta.apps
            if not isinstance(apps, StateApps):
                raise LookupError(f"{cls} has no registry of its own")
            after.apps = apps
            operation.database_forwards(app_label, editor, after, after)
        except Exception:  # noqa: BLE001 (the class may be half changed: it is not kept)
            start.undo()
            return _render_with(app_label, operation, _whole_before(before, state), state, editor, start)
        self._classes[key] = cached
        return start.taken()

    # The small states -------------------------------------------------------------------------

    def _state(self, state: ProjectState, keys: set[Key], *, clone: bool, refresh: bool = False) -> ProjectState:
        closure = _closure(state, keys)
        models = {key: (state.models[key].clone() if clone else state.models[key]) for key in closure}
        real_apps = state.real_apps & {key[0] for key in _references(state, closure)}
        small = ProjectState(models=models, real_apps=real_apps)
        small.apps = self._apps(small, closure if refresh else set())
        return small

    def _apps(self, small: ProjectState, refresh: set[Key]) -> _SmallApps:
        versions = self._versions

        def is_valid(key: Key) -> bool:
            cached = self._classes.get(key)
            return cached is not None and key not in refresh and self._current(cached)

        reuse: list[Key] = []
        fresh: list[Key] = []
        for key in small.models:
            (reuse if is_valid(key) else fresh).append(key)
        apps = _SmallApps(sorted(small.real_apps))
        with apps.bulk_update():
            for key in reuse:
                cls, _deps, through = self._classes[key]
                for model in (cls, *through):
                    apps.register_model(model._meta.app_label, model)
        apps.render_multiple([small.models[key] for key in fresh])
        # Relations to models this registry lacks stay pending (StateApps itself reports them the same way).
        pending = sorted(getattr(apps, "_pending_operations", {}))
        if pending:
            raise ValueError(f"unresolved relations to {', '.join('.'.join(key) for key in pending)}")
        for key in fresh:
            cls = apps.all_models[key[0]][key[1]]
            deps = {dep: versions.get(dep, 0) for dep in _closure(small, {key})}
            through = [
                field.remote_field.through
                for field in cls._meta.local_many_to_many
                if field.remote_field.through is not None and field.remote_field.through._meta.auto_created
            ]
            self._classes[key] = (cls, deps, through)
        return apps


class _Mark:
    """Where the editor's SQL stood before an operation: what the operation added is its SQL.

    Deferred statements (indexes, foreign keys) stay deferred, as in ``migrate``, where a later
    operation of the same migration may drop them (SQLite's table rebuilds do); the operation that
    deferred them is shown them.
    """

    def __init__(self, editor: BaseDatabaseSchemaEditor) -> None:
        self.editor = editor
        self.collected = len(editor.collected_sql)
        self.deferred = {id(statement) for statement in editor.deferred_sql}

    def _new_deferred(self) -> list[Any]:
        return [statement for statement in self.editor.deferred_sql if id(statement) not in self.deferred]

    def taken(self) -> list[str]:
        added = self.editor.collected_sql[self.collected :]
        return [*added, *(f"{statement};" for statement in self._new_deferred())]

    def undo(self) -> None:
        del self.editor.collected_sql[self.collected :]
        for statement in self._new_deferred():
            self.editor.deferred_sql.remove(statement)


def _render_with(
    app_label: str,
    operation: Operation,
    before: ProjectState,
    state: ProjectState,
    editor: BaseDatabaseSchemaEditor,
    start: _Mark,
) -> list[str]:
    # Rendered on copies: ``state`` itself must stay unrendered, or every later operation would pay
    # for re-rendering the models related to the one it changes.
    after = ProjectState(models=dict(state.models), real_apps=state.real_apps)
    operation.database_forwards(app_label, editor, before, after)
    return start.taken()


def _whole_before(small_before: ProjectState, state: ProjectState) -> ProjectState:
    """The whole state before the operation: today's models, with the small state's copies of the ones
    the operation changed."""
    models = {**state.models, **small_before.models}
    return ProjectState(models=models, real_apps=state.real_apps)


# --- which models an operation needs -------------------------------------------------------------


def _touched(app_label: str, operation: Operation, state: ProjectState, *, before: bool) -> set[Key]:
    if isinstance(operation, _NO_MODELS):
        return set()
    if isinstance(operation, ops.SeparateDatabaseAndState):
        # Its database operations run one after the other on copies of "before" (the "after" state is
        # not used), so "before" must hold what each of them needs, including what the models they
        # create point to. A copy of the state walks them.
        if not before:
            return set()
        keys: set[Key] = set()
        walk = ProjectState(models={k: m.clone() for k, m in state.models.items()}, real_apps=state.real_apps)
        for inner in operation.database_operations:
            keys |= _touched(app_label, inner, walk, before=True)
            inner.state_forwards(app_label, walk)
            created = _touched(app_label, inner, walk, before=False)
            keys |= _references(walk, created)
        return {key for key in keys if key in state.models}
    if isinstance(operation, ops.RenameModel):
        name = operation.old_name_lower if before else operation.new_name_lower
        return _with_referrers(state, {(app_label, name)})
    if isinstance(operation, ops.CreateModel):
        return set() if before else {(app_label, operation.name_lower)}
    if isinstance(operation, ops.DeleteModel):
        return {(app_label, operation.name_lower)} if before else set()
    if isinstance(operation, ops.RenameField):
        key = (app_label, operation.model_name_lower)
        return _with_referrers(state, {key}) if _renames_key(operation, state.models.get(key), before) else {key}
    if isinstance(operation, ops.AlterField):
        key = (app_label, operation.model_name_lower)
        return _with_referrers(state, {key}) if _alters_key(operation, state.models.get(key)) else {key}
    if isinstance(operation, FieldOperation | IndexOperation):
        return {(app_label, operation.model_name_lower)}
    if isinstance(operation, ModelOperation):
        return {(app_label, operation.name_lower)}
    raise _Unknown(type(operation).__qualname__)


#: Operations that change the columns, indexes or constraints of one model and nothing the relations
#: of other models resolve to (its table, its primary key, its unique columns), unless the field
#: they change is a key (see :func:`_local`). ``RenameField`` is not one: Django's state repoints
#: the relations naming the field (``to_field``, ``through_fields``) in the other models' states.
_LOCAL_OPERATIONS: tuple[type[Operation], ...] = (
    ops.AddField,
    ops.RemoveField,
    ops.AlterField,
    ops.AddIndex,
    ops.RemoveIndex,
    ops.RenameIndex,
    ops.AddConstraint,
    ops.RemoveConstraint,
    ops.AlterUniqueTogether,
    ops.AlterIndexTogether,
    ops.AlterModelTableComment,
)


def _local(app_label: str, operation: Operation, state: ProjectState) -> bool:
    """Whether ``operation`` (not applied to ``state`` yet) leaves what the relations pointing to its
    model resolve to as it was: a field operation counts only when the field is not a key (see
    :func:`_keys`), before and after."""
    if not isinstance(operation, _LOCAL_OPERATIONS):
        return False
    if not isinstance(operation, FieldOperation):
        return True
    model_state = state.models.get((app_label, operation.model_name_lower))
    if model_state is None:
        return False
    if operation.name in _keys(model_state):
        return False
    new = getattr(operation, "field", None)  # AddField and AlterField carry the field they leave
    return new is None or not (new.primary_key or new.unique)


def _keys(model_state: ModelState) -> set[str]:
    """The fields of a model a relation may point to: the primary key (every part of a composite
    one), unique fields, and the fields of its unique constraints and ``unique_together`` (a foreign
    key's ``to_field`` may name a field unique only through a constraint)."""
    keys: set[str] = set()
    for name, field in model_state.fields.items():
        if field.primary_key or field.unique:
            keys.add(name)
            keys.update(getattr(field, "field_names", ()))  # CompositePrimaryKey
    for constraint in model_state.options.get("constraints", ()):
        if isinstance(constraint, UniqueConstraint):
            keys.update(constraint.fields)
    for together in normalize_together(model_state.options.get("unique_together", ())):
        keys.update(together)
    return keys


def _follows_referrers(app_label: str, operation: Operation, state: ProjectState) -> bool:
    """Whether the schema editor looks at the relations pointing to the model: it does when a table
    is renamed, or a primary key or unique column renamed or altered (the constraints of the foreign
    keys to it are dropped and made again)."""
    if isinstance(operation, ops.RenameModel):
        return True
    if isinstance(operation, ops.RenameField):
        return _renames_key(operation, state.models.get((app_label, operation.model_name_lower)), before=True)
    if not isinstance(operation, ops.AlterField):
        return False
    model_state = state.models.get((app_label, operation.model_name_lower))
    return _alters_key(operation, model_state)


def _renames_key(operation: ops.RenameField, model_state: ModelState | None, before: bool) -> bool:
    """Whether the renamed field is a primary key or unique: only then does the schema editor look at
    the relations pointing to it (a plain column rename touches no other table)."""
    if model_state is None:
        return True
    field = model_state.fields.get(operation.old_name if before else operation.new_name)
    return field is None or field.primary_key or field.unique


def _alters_key(operation: ops.AlterField, model_state: ModelState | None) -> bool:
    old = model_state.fields.get(operation.name) if model_state is not None else None
    fields = [operation.field] if old is None else [operation.field, old]
    return any(field.primary_key or field.unique for field in fields)


def _with_referrers(state: ProjectState, keys: set[Key]) -> set[Key]:
    """``keys`` and the models that point to them. Found by a scan, not with ``state.relations``:
    once those are computed, ``state_forwards`` of an AlterField moves the field to the end of its
    model, and SQLite's table rebuilds would list the columns in another order than ``migrate``."""
    result = set(keys)
    for key, model_state in state.models.items():
        if key not in result and any(ref in keys for ref in _model_references(model_state)):
            result.add(key)
    return result


def _references(state: ProjectState, keys: Iterable[Key]) -> set[Key]:
    """The models ``keys`` point to (relations, explicit through models, base classes)."""
    found: set[Key] = set()
    for key in keys:
        model_state = state.models.get(key)
        if model_state is not None:
            found.update(_model_references(model_state))
    return found


#: id(model state) -> (the model state, kept alive so the id is not reused; its field objects; what it points to)
_REFERENCES: dict[int, tuple[ModelState, tuple[int, ...], tuple[Key, ...]]] = {}


def _model_references(model_state: ModelState) -> tuple[Key, ...]:
    """What a model state points to, remembered while its field objects stay the same (operations
    replace a field object when they change it)."""
    fields = (id(model_state.bases), *map(id, model_state.fields.values()))
    known = _REFERENCES.get(id(model_state))
    if known is not None and known[0] is model_state and known[1] == fields:
        return known[2]
    if len(_REFERENCES) > 200_000:
        _REFERENCES.clear()
    references = tuple(_scan_references(model_state))
    _REFERENCES[id(model_state)] = (model_state, fields, references)
    return references


def _scan_references(model_state: ModelState) -> Iterable[Key]:
    app_label, name = model_state.app_label, model_state.name_lower
    for field in model_state.fields.values():
        remote = field.remote_field
        if remote is None:
            continue
        yield resolve_relation(remote.model, app_label, name)
        through = getattr(remote, "through", None)
        if through is not None:
            yield resolve_relation(through, app_label, name)
    for base in model_state.bases:
        if isinstance(base, str):
            yield resolve_relation(base, app_label, name)
        elif isinstance(base, type) and issubclass(base, Model) and base is not Model and not base._meta.abstract:
            yield (base._meta.app_label, str(base._meta.model_name))


def _closure(state: ProjectState, keys: set[Key]) -> set[Key]:
    """``keys`` and every model they point to, recursively, that the state holds."""
    seen: set[Key] = set()
    queue = [key for key in keys if key in state.models]
    while queue:
        key = queue.pop()
        if key in seen:
            continue
        seen.add(key)
        queue.extend(ref for ref in _model_references(state.models[key]) if ref in state.models and ref not in seen)
    return seen
