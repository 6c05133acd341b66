"""Generate a large, real Django project for benchmarks: many apps, long and varied migration histories.

    python benchmarks/largeproject.py PATH --apps 50 --migrations 40 [--seed 0]

    from benchmarks.largeproject import generate
    generate(path, apps=50, migrations=40, seed=0)

The project is an ordinary one: ``PATH/manage.py``, a settings module ``largeproject.settings`` that
reads ``DATABASE_URL`` (and ``CACHE_URL``) with django-environ (SQLite in ``PATH/db.sqlite3`` by
default), ``django_cicd`` and ``dbbackup`` installed, an admin registration per app, static files.

Each app's history is simulated operation by operation, and ``models.py`` and ``admin.py`` are
written from the final state, so ``makemigrations --check`` finds nothing to do and ``migrate``
applies everything on SQLite, PostgreSQL and MariaDB. The histories mix what real projects carry:
CreateModel, AddField (nullable, with a default, NOT NULL with a one-off default), AlterField,
RenameField, RemoveField, AddIndex, AddConstraint (check and unique), AlterUniqueTogether,
RunPython with and without a reverse, RunSQL with and without a reverse, ForeignKeys inside the app,
to earlier apps and to ``settings.AUTH_USER_MODEL``. The same seed gives the same project.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARKER = ".largeproject"

DOMAINS = [
    "accounts", "billing", "catalog", "inventory", "shipping", "support", "crm", "payroll", "analytics",
    "marketing", "orders", "payments", "reviews", "search", "notify", "audit", "booking", "content",
    "forms", "geo", "media", "pricing", "reports", "tenants", "workflow",
]  # fmt: skip
NOUNS = [
    "Account", "Address", "Agreement", "Asset", "Batch", "Campaign", "Carrier", "Category", "Channel",
    "Contact", "Contract", "Coupon", "Delivery", "Device", "Document", "Entry", "Event", "Export",
    "Feature", "Invoice", "Item", "Job", "Ledger", "Lead", "Location", "Message", "Note", "Offer",
    "Order", "Package", "Payment", "Plan", "Policy", "Profile", "Project", "Quote", "Rate", "Receipt",
    "Refund", "Region", "Report", "Request", "Rule", "Schedule", "Segment", "Shipment", "Subscription",
    "Supplier", "Task", "Team", "Template", "Ticket", "Transfer", "Vendor", "Visit", "Warehouse",
]  # fmt: skip
CHAR_NAMES = ["title", "code", "reference", "status", "label", "email", "phone", "city", "country", "slug",
              "external_id", "currency", "channel", "source", "kind", "state"]  # fmt: skip
INT_NAMES = ["quantity", "position", "priority", "attempts", "score", "weight", "capacity", "year", "rank"]
BOOL_NAMES = ["is_active", "is_archived", "is_public", "verified", "flagged", "paid", "enabled"]
TEXT_NAMES = ["notes", "description", "comment", "summary", "body", "address_lines"]
DATETIME_NAMES = ["created_at", "updated_at", "due_at", "sent_at", "closed_at", "expires_at", "synced_at"]
DECIMAL_NAMES = ["amount", "total", "balance", "price", "discount", "tax", "fee"]


@dataclass
class FieldDef:
    name: str
    kind: str  # char, int, bigint, bool, text, datetime, decimal, fk
    kwargs: dict[str, str]  # keyword -> Python source of the value, in rendering order

    def render(self) -> str:
        cls = {
            "char": "CharField",
            "int": "IntegerField",
            "bigint": "BigIntegerField",
            "bool": "BooleanField",
            "text": "TextField",
            "datetime": "DateTimeField",
            "decimal": "DecimalField",
            "fk": "ForeignKey",
        }[self.kind]
        return f"models.{cls}({', '.join(f'{k}={v}' for k, v in self.kwargs.items())})"

    @property
    def column(self) -> str:
        return f"{self.name}_id" if self.kind == "fk" else self.name


@dataclass
class ModelDef:
    name: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    indexes: list[str] = field(default_factory=list)  # rendered models.Index(...)
    constraints: list[str] = field(default_factory=list)  # rendered models.*Constraint(...)
    unique_together: list[tuple[str, str]] = field(default_factory=list)
    locked: set[str] = field(default_factory=set)  # used by an index or constraint: not renamed or removed

    @property
    def lower(self) -> str:
        return self.name.lower()


@dataclass
class Migration:
    name: str
    dependencies: list[str]  # rendered tuples / swappable_dependency(...)
    operations: list[str]
    functions: list[str] = field(default_factory=list)


@dataclass
class AppDef:
    label: str
    models: dict[str, ModelDef] = field(default_factory=dict)
    migrations: list[Migration] = field(default_factory=list)
    created_in: dict[str, str] = field(default_factory=dict)  # model name -> migration that created it
    counter: int = 0
    uses_settings: bool = False

    def next_id(self) -> int:
        self.counter += 1
        return self.counter


class _Generator:
    def __init__(self, rng: random.Random, n_apps: int, n_migrations: int) -> None:
        self.rng = rng
        self.n_apps = n_apps
        self.n_migrations = n_migrations
        self.apps: list[AppDef] = []

    # -- fields ------------------------------------------------------------------------------------

    def _fresh_name(self, model: ModelDef, pool: list[str]) -> str:
        for candidate in self.rng.sample(pool, len(pool)):
            if candidate not in model.fields:
                return candidate
        base = self.rng.choice(pool)
        n = 2
        while f"{base}_{n}" in model.fields:
            n += 1
        return f"{base}_{n}"

    def _plain_field(self, model: ModelDef, mode: str) -> tuple[FieldDef, dict[str, str]]:
        """A new non-relational field; mode is nullable, default or required (NOT NULL, no default).

        Returns the field of the final state and the extra AddField keywords (a one-off default).
        """
        extra: dict[str, str] = {}
        rng = self.rng
        if mode == "nullable":
            kind = rng.choice(["char", "text", "datetime", "int", "decimal"])
        elif mode == "default":
            kind = rng.choice(["char", "int", "bool", "decimal"])
        else:
            kind = rng.choice(["char", "int"])
        pool = {
            "char": CHAR_NAMES,
            "int": INT_NAMES,
            "bool": BOOL_NAMES,
            "text": TEXT_NAMES,
            "datetime": DATETIME_NAMES,
            "decimal": DECIMAL_NAMES,
        }[kind]
        name = self._fresh_name(model, pool)
        kw: dict[str, str] = {}
        if kind == "char":
            kw["max_length"] = str(rng.choice([20, 32, 64, 100, 255]))
        elif kind == "decimal":
            kw["decimal_places"] = "2"
            kw["max_digits"] = str(rng.choice([10, 12, 14]))
        if mode == "nullable":
            kw["blank"] = "True"
            kw["null"] = "True"
        elif mode == "default":
            kw["default"] = {"char": '""', "int": "0", "bool": "False", "decimal": "0"}[kind]
            if kind == "char":
                kw["blank"] = "True"
        else:
            extra["default"] = '"unknown"' if kind == "char" else "1"
        return FieldDef(name, kind, dict(sorted(kw.items()))), extra

    def _fk_field(self, app: AppDef, model: ModelDef) -> tuple[FieldDef, str | None]:
        """A ForeignKey to a model of this app, of an earlier app, or to the user model."""
        rng = self.rng
        choices: list[tuple[str, str, str | None]] = []  # (to source, target name, dependency)
        for other in app.models.values():
            if other.name != model.name:
                choices.append((repr(f"{app.label}.{other.name}"), other.lower, None))
        earlier = self.apps[-6:]
        for other_app in earlier:
            for other in other_app.models.values():
                dep = repr((other_app.label, other_app.created_in[other.name]))
                choices.append((repr(f"{other_app.label}.{other.name}"), other.lower, dep))
        if rng.random() < 0.15 or not choices:
            app.uses_settings = True
            to, target, dep = (
                "settings.AUTH_USER_MODEL",
                "user",
                "migrations.swappable_dependency(settings.AUTH_USER_MODEL)",
            )
        else:
            to, target, dep = rng.choice(choices)
        name = target if target not in model.fields else f"{target}_{app.next_id()}"
        while name in model.fields:
            name = f"{target}_{app.next_id()}"
        kw = {"to": to}
        if rng.random() < 0.4:
            kw.update(blank="True", null="True", on_delete="models.SET_NULL")
        else:
            kw["on_delete"] = rng.choice(["models.CASCADE", "models.PROTECT"])
        # Unique reverse names: several models across the project point at the same target.
        kw["related_name"] = repr(f"{app.label}_{model.lower}_{name}")
        return FieldDef(name, "fk", dict(sorted(kw.items()))), dep

    # -- operations --------------------------------------------------------------------------------

    def _create_model(self, app: AppDef, migration: Migration) -> str:
        rng = self.rng
        used = {m.name for a in self.apps for m in a.models.values()} | set(app.models)
        free = [n for n in NOUNS if n not in app.models]
        name = rng.choice(free) if free else f"{rng.choice(NOUNS)}{app.next_id()}"
        if name in used and rng.random() < 0.5:
            name = f"{name}{rng.choice(['Log', 'Line', 'Item', 'Snapshot', 'Version'])}"
        while name in app.models:
            name = f"{name}{app.next_id()}"
        model = ModelDef(name)
        for mode in ["required", "nullable", rng.choice(["default", "nullable"])]:
            f, _ = self._plain_field(model, mode if mode != "required" else "default")
            if mode == "required":  # a created model's NOT NULL field needs no default
                f.kwargs.pop("default", None)
                f.kwargs.pop("blank", None)
            model.fields[f.name] = f
        if (app.models and rng.random() < 0.6) or (self.apps and rng.random() < 0.5):
            fk, dep = self._fk_field(app, model)
            model.fields[fk.name] = fk
            if dep and dep not in migration.dependencies:
                migration.dependencies.append(dep)
        app.models[name] = model
        app.created_in[name] = migration.name
        fields = [
            '("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))'
        ]
        fields += [f"({f.name!r}, {f.render()})" for f in model.fields.values()]
        body = ",\n                ".join(fields)
        return _call("CreateModel", name=repr(name), fields=f"[\n                {body},\n            ]")

    def _unlocked(self, app: AppDef, kinds: set[str]) -> list[tuple[ModelDef, FieldDef]]:
        return [
            (m, f) for m in app.models.values() for f in m.fields.values() if f.kind in kinds and f.name not in m.locked
        ]

    def _operation(self, app: AppDef, migration: Migration, kind: str) -> str | None:
        rng = self.rng
        models_ = list(app.models.values())
        model = rng.choice(models_)
        label = app.label
        if kind == "create":
            return self._create_model(app, migration)
        if kind in ("add_nullable", "add_default", "add_required"):
            mode = kind.removeprefix("add_")
            f, extra = self._plain_field(model, mode)
            model.fields[f.name] = f
            if extra:
                op_field = FieldDef(f.name, f.kind, dict(sorted({**f.kwargs, **extra}.items())))
                return _call(
                    "AddField",
                    model_name=repr(model.lower),
                    name=repr(f.name),
                    field=op_field.render(),
                    preserve_default="False",
                )
            return _call("AddField", model_name=repr(model.lower), name=repr(f.name), field=f.render())
        if kind == "add_fk":
            f, dep = self._fk_field(app, model)
            model.fields[f.name] = f
            if dep and dep not in migration.dependencies:
                migration.dependencies.append(dep)
            return _call("AddField", model_name=repr(model.lower), name=repr(f.name), field=f.render())
        if kind == "alter":
            candidates = self._unlocked(app, {"char", "int"})
            if not candidates:
                return None
            model, f = rng.choice(candidates)
            if f.kind == "char":
                # Wider, never past 255: MariaDB's index key and row size limits stay clear.
                wider = [n for n in (64, 100, 150, 255) if n > int(f.kwargs["max_length"])]
                if wider:
                    f.kwargs["max_length"] = str(rng.choice(wider))
                elif "db_index" not in f.kwargs:
                    f.kwargs["db_index"] = "True"
                else:
                    return None
            else:
                f.kind = "bigint"
            f.kwargs = dict(sorted(f.kwargs.items()))
            return _call("AlterField", model_name=repr(model.lower), name=repr(f.name), field=f.render())
        if kind == "rename":
            candidates = self._unlocked(app, {"char", "int", "bigint", "bool", "text", "datetime", "decimal"})
            if not candidates:
                return None
            model, f = rng.choice(candidates)
            new = f"{f.name}_{rng.choice(['old', 'new', 'value', 'v2', 'raw'])}"
            if new in model.fields:
                return None
            old = f.name
            f.name = new
            model.fields = {(new if k == old else k): v for k, v in model.fields.items()}
            return _call("RenameField", model_name=repr(model.lower), old_name=repr(old), new_name=repr(new))
        if kind == "remove":
            candidates = [(m, f) for m, f in self._unlocked(app, {"char", "int", "bool", "text", "datetime"})
                          if len(m.fields) > 2]  # fmt: skip
            if not candidates:
                return None
            model, f = rng.choice(candidates)
            del model.fields[f.name]
            return _call("RemoveField", model_name=repr(model.lower), name=repr(f.name))
        if kind == "index":
            f = rng.choice(list(model.fields.values()))
            index = f'models.Index(fields=[{f.name!r}], name="{label}_{app.next_id()}_idx")'
            model.indexes.append(index)
            model.locked.add(f.name)
            return _call("AddIndex", model_name=repr(model.lower), index=index)
        if kind == "constraint":
            ints = [f for f in model.fields.values() if f.kind in ("int", "bigint", "decimal")]
            chars = [f for f in model.fields.values() if f.kind == "char"]
            if ints and (rng.random() < 0.6 or not chars):
                f = rng.choice(ints)
                constraint = (
                    f"models.CheckConstraint(condition=models.Q(({f.name + '__gte'!r}, 0)), "
                    f'name="{label}_{app.next_id()}_ck")'
                )
            elif chars:
                f = rng.choice(chars)
                constraint = f'models.UniqueConstraint(fields=[{f.name!r}], name="{label}_{app.next_id()}_uq")'
            else:
                return None
            model.constraints.append(constraint)
            model.locked.add(f.name)
            return _call("AddConstraint", model_name=repr(model.lower), constraint=constraint)
        if kind == "unique_together":
            names = [f.name for f in model.fields.values() if f.kind in ("char", "int", "fk", "bool")]
            if len(names) < 2:
                return None
            pair = tuple(sorted(rng.sample(names, 2)))
            if pair in model.unique_together:
                return None
            model.unique_together.append(pair)  # type: ignore[arg-type]
            model.locked.update(pair)
            together = "{" + ", ".join(repr(p) for p in model.unique_together) + "}"
            return _call("AlterUniqueTogether", name=repr(model.lower), unique_together=together)
        if kind in ("runpython", "runpython_noreverse"):
            n = len(migration.functions) + 1
            chars = [f for f in model.fields.values() if f.kind == "char"]
            if chars:
                f = rng.choice(chars)
                forward = (
                    f"def forwards_{n}(apps, schema_editor):\n"
                    f"    {model.name} = apps.get_model({label!r}, {model.name!r})\n"
                    f"    db_alias = schema_editor.connection.alias\n"
                    f'    for obj in {model.name}.objects.using(db_alias).filter({f.name}="").iterator():\n'
                    f'        obj.{f.name} = "n/a"\n'
                    f"        obj.save(update_fields=[{f.name!r}])\n"
                )
                backward = (
                    f"def backwards_{n}(apps, schema_editor):\n"
                    f"    {model.name} = apps.get_model({label!r}, {model.name!r})\n"
                    f"    db_alias = schema_editor.connection.alias\n"
                    f'    {model.name}.objects.using(db_alias).filter({f.name}="n/a").update({f.name}="")\n'
                )
            else:
                forward = (
                    f"def forwards_{n}(apps, schema_editor):\n"
                    f"    {model.name} = apps.get_model({label!r}, {model.name!r})\n"
                    f"    {model.name}.objects.using(schema_editor.connection.alias).filter(pk__lt=0).delete()\n"
                )
                backward = f"def backwards_{n}(apps, schema_editor):\n    pass\n"
            migration.functions.append(forward)
            if kind == "runpython":
                migration.functions.append(backward)
                return f"migrations.RunPython(forwards_{n}, backwards_{n})"
            return f"migrations.RunPython(forwards_{n})"
        if kind in ("runsql", "runsql_noreverse"):
            table = f"{label}_{model.lower}"
            ints = [f for f in model.fields.values() if f.kind in ("int", "bigint")]
            chars = [f for f in model.fields.values() if f.kind == "char"]
            if ints:
                col = rng.choice(ints).column
                sql = f"UPDATE {table} SET {col} = 0 WHERE {col} < 0"
            elif chars:
                col = rng.choice(chars).column
                sql = f"UPDATE {table} SET {col} = TRIM({col})"
            else:
                sql = f"DELETE FROM {table} WHERE id < 0"
            if kind == "runsql":
                return _call("RunSQL", sql=repr(sql), reverse_sql="migrations.RunSQL.noop")
            return f"migrations.RunSQL({sql!r})"
        raise ValueError(kind)

    KINDS = {
        "create": 6, "add_nullable": 14, "add_default": 9, "add_required": 6, "add_fk": 6, "alter": 9,
        "rename": 5, "remove": 5, "index": 6, "constraint": 5, "unique_together": 3, "runpython": 5,
        "runpython_noreverse": 3, "runsql": 4, "runsql_noreverse": 2,
    }  # fmt: skip

    # -- histories ---------------------------------------------------------------------------------

    def app(self, index: int) -> AppDef:
        rng = self.rng
        app = AppDef(f"{DOMAINS[index % len(DOMAINS)]}{index:02d}")
        previous: str | None = None
        for number in range(1, self.n_migrations + 1):
            if number == 1:
                migration = Migration("0001_initial", [], [])
                ops = [self._create_model(app, migration) for _ in range(rng.randint(2, 3))]
            else:
                migration = Migration("", [repr((app.label, previous))], [])
                ops = []
                kinds = list(self.KINDS)
                weights = list(self.KINDS.values())
                for kind in rng.choices(kinds, weights, k=rng.choice([1, 1, 1, 2, 2, 3])):
                    op = self._operation(app, migration, kind)
                    if op is not None:
                        ops.append(op)
                if not ops:
                    ops.append(self._operation(app, migration, "add_nullable") or "")
                migration.name = f"{number:04d}_{_slug(ops[0])}"
                for model_name, created in app.created_in.items():
                    if created == "":  # named only now that its first operation is known
                        app.created_in[model_name] = migration.name
            migration.operations = ops
            # The first migration of an app depends on nothing in its own app: fix up the dependency list.
            migration.dependencies = sorted(set(migration.dependencies))
            app.migrations.append(migration)
            previous = migration.name
        return app

    def run(self) -> list[AppDef]:
        for index in range(self.n_apps):
            self.apps.append(self.app(index))
        return self.apps


def _call(operation: str, **kwargs: str) -> str:
    """Source of ``migrations.<operation>(...)`` laid out one keyword per line, as makemigrations writes it."""
    lines = "".join(f"            {key}={value},\n" for key, value in kwargs.items())
    return f"migrations.{operation}(\n{lines}        )"


def _slug(operation: str) -> str:
    """A name in the style of makemigrations' automatic names (``invoice_due_at``, ``remove_order_code``)."""
    kind = operation.split("(", 1)[0].removeprefix("migrations.")
    values = dict(re.findall(r"(\w+)=['\"](\w+)['\"]", operation))
    model = values.get("model_name") or values.get("name", "")
    slug = {
        "CreateModel": values.get("name", "").lower(),
        "AddField": f"{model}_{values.get('name')}",
        "AlterField": f"alter_{model}_{values.get('name')}",
        "RenameField": f"rename_{values.get('old_name')}_{model}_{values.get('new_name')}",
        "RemoveField": f"remove_{model}_{values.get('name')}",
        "AddIndex": f"{model}_{values.get('name', 'idx')}",
        "AddConstraint": f"{model}_{values.get('name', 'constraint')}",
        "AlterUniqueTogether": f"alter_{model}_unique_together",
        "RunPython": "data_migration",
        "RunSQL": "raw_sql",
    }.get(kind, kind.lower())
    return slug[:50].strip("_")


# -- rendering -------------------------------------------------------------------------------------


def _migration_source(app: AppDef, migration: Migration) -> str:
    needs_settings = any("settings." in d for d in migration.dependencies) or any(
        "settings.AUTH_USER_MODEL" in op for op in migration.operations
    )
    lines = ["# Generated by benchmarks/largeproject.py", ""]
    if needs_settings:
        lines.append("from django.conf import settings")
    lines += ["from django.db import migrations, models", "", ""]
    for function in migration.functions:
        lines += [function, ""]
    deps = "".join(f"        {d},\n" for d in migration.dependencies)
    ops = "".join(f"        {op},\n" for op in migration.operations)
    initial = "    initial = True\n\n" if migration.name == "0001_initial" else ""
    lines.append(
        f"class Migration(migrations.Migration):\n{initial}    dependencies = [\n{deps}    ]\n\n"
        f"    operations = [\n{ops}    ]\n"
    )
    return "\n".join(lines)


def _models_source(app: AppDef) -> str:
    out = ['"""Models of a generated benchmark app (benchmarks/largeproject.py)."""', ""]
    if app.uses_settings:
        out.append("from django.conf import settings")
    out += ["from django.db import models", "", ""]
    for model in app.models.values():
        out.append(f"class {model.name}(models.Model):")
        for f in model.fields.values():
            out.append(f"    {f.name} = {f.render()}")
        meta = []
        if model.unique_together:
            meta.append("        unique_together = [" + ", ".join(repr(p) for p in model.unique_together) + "]")
        if model.indexes:
            meta.append("        indexes = [" + ", ".join(model.indexes) + "]")
        if model.constraints:
            meta.append("        constraints = [" + ", ".join(model.constraints) + "]")
        if meta:
            out += ["", "    class Meta:", *meta]
        out += ["", "    def __str__(self):", f'        return f"{model.name} {{self.pk}}"', "", ""]
    return "\n".join(out).rstrip() + "\n"


def _admin_source(app: AppDef) -> str:
    out = ["from django.contrib import admin", "", "from . import models", "", ""]
    for model in app.models.values():
        shown = [f.name for f in model.fields.values()][:3]
        searchable = [f.name for f in model.fields.values() if f.kind == "char"][:2]
        filters = [f.name for f in model.fields.values() if f.kind in ("bool", "fk")][:2]
        out.append(f"@admin.register(models.{model.name})")
        out.append(f"class {model.name}Admin(admin.ModelAdmin):")
        out.append(f"    list_display = {['id', *shown]!r}")
        if searchable:
            out.append(f"    search_fields = {searchable!r}")
        if filters:
            out.append(f"    list_filter = {filters!r}")
        out += ["", ""]
    return "\n".join(out).rstrip() + "\n"


SETTINGS = '''"""Settings of a generated benchmark project (benchmarks/largeproject.py), read with django-environ."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="{secret_key}")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["largeproject.example.com", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dbbackup",
    "django_cicd",
{apps}]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "largeproject.urls"
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        }},
    }}
]

DATABASES = {{"default": env.db("DATABASE_URL", default=f"sqlite:///{{BASE_DIR / 'db.sqlite3'}}")}}
CACHES = {{"default": env.cache("CACHE_URL", default="locmemcache://")}}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {{
    "default": {{"BACKEND": "django.core.files.storage.FileSystemStorage"}},
    "staticfiles": {{"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}},
    "dbbackup": {{
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {{"location": str(BASE_DIR / "backups")}},
    }},
}}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True

CICD = {{"ENVIRONMENT": env.str("DJANGO_ENV", default="production")}}
'''

MANAGE = """#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "largeproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

URLS = """from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def generate(path: str | Path, *, apps: int = 50, migrations: int = 40, seed: int = 0) -> Path:
    """Write the project into ``path`` (absent, empty, or generated before) and return its path."""
    if apps < 1 or migrations < 1:
        raise ValueError("apps and migrations must be at least 1")
    root = Path(path).resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise FileExistsError(f"{root} is not empty and was not generated by largeproject.py; choose another path")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311 (reproducible layouts, not secrets)
    defs = _Generator(rng, apps, migrations).run()

    _write(root / MARKER, f"apps={apps} migrations={migrations} seed={seed}\n")
    _write(root / "manage.py", MANAGE)
    (root / "manage.py").chmod(0o755)
    _write(root / "largeproject" / "__init__.py", "")
    _write(root / "largeproject" / "urls.py", URLS)
    secret = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)") for _ in range(60))
    app_lines = "".join(f'    "{a.label}",\n' for a in defs)
    _write(root / "largeproject" / "settings.py", SETTINGS.format(secret_key=secret, apps=app_lines))
    for app in defs:
        base = root / app.label
        _write(base / "__init__.py", "")
        _write(base / "models.py", _models_source(app))
        _write(base / "admin.py", _admin_source(app))
        _write(base / "migrations" / "__init__.py", "")
        for migration in app.migrations:
            _write(base / "migrations" / f"{migration.name}.py", _migration_source(app, migration))
        static = base / "static" / app.label
        _write(static / "logo.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n')
        _write(static / "app.css", f'.{app.label} {{ background: url("logo.svg"); }}\n')
        _write(static / "app.js", f'console.log("{app.label}");\n')
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="Directory to write the project into (absent, empty or generated).")
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--migrations", type=int, default=40, help="Migrations per app.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        root = generate(args.path, apps=args.apps, migrations=args.migrations, seed=args.seed)
    except (FileExistsError, ValueError) as exc:
        print(f"largeproject.py: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.apps} apps x {args.migrations} migrations to {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
