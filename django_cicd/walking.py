"""The project state of a migration history, walked without rendering it.

``MigrationLoader.project_state()`` applies every migration's ``state_forwards`` to a
:class:`~django.db.migrations.state.ProjectState`. For each ``AlterField`` Django then scans every
field of every model for references to the altered field, only to decide how to reload the rendered
model classes (an unrendered state has none to reload), and for each ``RenameField`` it scans them
all again for relations naming the field. In a 2,000-migration history those scans were most of the
walk. :class:`WalkState` skips the first and narrows the second to the models with a relation that
may point to the renamed field's model, and is otherwise Django's state: :func:`project_state`
returns what the loader's does, built the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import NOT_PROVIDED, Field

from django_cicd import planning

Key = tuple[str, str]


class WalkState(ProjectState):
    """A :class:`ProjectState` whose ``alter_field`` does not look for references while nothing is rendered.

    Once its models are rendered (``state.apps``) or its relations resolved (``state.relations``), it
    behaves exactly as Django's. Its clones are plain ``ProjectState`` objects.
    """

    def _unrendered(self) -> bool:
        """Neither rendered (``state.apps``) nor with its relations resolved (``state.relations``)."""
        return "apps" not in self.__dict__ and self.__dict__.get("_relations") is None

    def alter_field(
        self, app_label: str, model_name: str, name: str, field: Field[Any, Any], preserve_default: bool
    ) -> None:
        if not self._unrendered():
            super().alter_field(app_label, model_name, name, field, preserve_default)
            return
        if not preserve_default:
            field = field.clone()
            field.default = NOT_PROVIDED
        # What Django does next (reload_model) does nothing on an unrendered state; the reference scan
        # that only chooses how it reloads is skipped.
        self.models[app_label, model_name].fields[name] = field

    def rename_field(self, app_label: str, model_name: str, old_name: str, new_name: str) -> None:
        if not self._unrendered():
            super().rename_field(app_label, model_name, old_name, new_name)
            return
        # Django repoints the relations that name the renamed field (``to_field``) by scanning every
        # field of every model; only the models with a relation that may point to this model can
        # have one, so the scan is given those (and the model itself).
        key = (app_label, model_name)
        models = self.models
        self.models = {k: m for k, m in models.items() if k == key or _may_point_to(m, model_name)}
        try:
            super().rename_field(app_label, model_name, old_name, new_name)
        finally:
            self.models = models


def _may_point_to(model_state: ModelState, model_name: str) -> bool:
    """Whether a relation of ``model_state`` may point to (or go through) a model named ``model_name``:
    a cheap test that errs on the side of yes (a model class, "self")."""
    for field in model_state.fields.values():
        remote = field.remote_field
        if remote is None:
            continue
        for target in (remote.model, getattr(remote, "through", None)):
            if target is None:
                continue
            if not isinstance(target, str) or target.rpartition(".")[2].lower() in (model_name, "self"):
                return True
    return False


def project_state(loader: MigrationLoader, nodes: Sequence[Key] | None = None, *, at_end: bool = True) -> WalkState:
    """``loader.project_state(nodes, at_end)``, walked in the same order, as a :class:`WalkState`."""
    graph = loader.graph
    if nodes is None:
        nodes = list(graph.leaf_nodes())
    state = WalkState(real_apps=loader.unmigrated_apps)
    for key in plan_order(graph, nodes, at_end=at_end):
        graph.nodes[key].mutate_state(state, preserve=False)
    return state


def plan_order(graph: MigrationGraph, nodes: Sequence[Key], *, at_end: bool) -> list[Key]:
    """The migrations ``MigrationLoader.project_state(nodes, at_end)`` applies, in its order (without
    ``at_end``, ``nodes`` themselves left out), found in one search of the graph."""
    order = planning.forwards_order(graph, nodes)
    if at_end:
        return order
    left_out = set(nodes)
    return [key for key in order if key not in left_out]


def complete(loader: MigrationLoader, state: ProjectState, keys: Iterable[Key]) -> ProjectState:
    """Move ``state`` on to the leaf migrations and return it: ``state`` is the state after the
    migrations ``keys`` and every one of their ancestors (what a walk of a plan from the state before
    it gives); the other migrations of the graph are applied to it in the loader's order."""
    graph = loader.graph
    walked: set[Key] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        if key not in walked:
            walked.add(key)
            todo.extend(parent.key for parent in graph.node_map[key].parents)
    for key in plan_order(graph, graph.leaf_nodes(), at_end=True):
        if key not in walked:
            graph.nodes[key].mutate_state(state, preserve=False)
    return state
