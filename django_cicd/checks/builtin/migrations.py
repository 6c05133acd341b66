from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps
from django.db import connections, router
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState

from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.planning import file_location, relative_path, stale_applied, uninstalled_applied, unknown_applied
from django_cicd.report import Finding, Location, Severity


@register("cicd.migrations.missing", title="Every model change has a migration")
def missing_migrations(ctx: CheckContext) -> Iterator[Finding]:
    """Models changed without a migration, as ``makemigrations --check`` finds them; no database needed."""
    autodetector = MigrationAutodetector(
        ctx.project_state,
        ProjectState.from_apps(apps),
        NonInteractiveMigrationQuestioner(specified_apps=None, dry_run=True),
    )
    changes = autodetector.changes(graph=ctx.loader.graph)
    for app_label, migrations in sorted(changes.items()):
        for migration in migrations:
            descriptions = [operation.describe() for operation in migration.operations]
            app_config = apps.get_app_config(app_label)
            yield Finding(
                message=(
                    f"{app_label}: {len(descriptions)} model change(s) have no migration: " + "; ".join(descriptions)
                ),
                hint=f"Run `python manage.py makemigrations {app_label}` and commit the new migration.",
                code="cicd.migrations.missing",
                location=Location(relative_path(app_config.path + "/models.py")),
            )


@register("cicd.migrations.conflicts", title="The migration graph has one leaf per app")
def migration_conflicts(ctx: CheckContext) -> Iterator[Finding]:
    """Two migrations with the same parent in one app (two branches merged without a merge migration)."""
    for app_label, names in sorted(ctx.loader.detect_conflicts().items()):
        leaves = sorted(names)
        migration = ctx.loader.graph.nodes[(app_label, leaves[-1])]
        path = file_location(migration)
        yield Finding(
            message=f"{app_label} has {len(leaves)} leaf migrations: {', '.join(leaves)}",
            hint=(
                f"Run `python manage.py makemigrations --merge {app_label}` (or rebase one branch's "
                "migration on the other) and commit the result."
            ),
            code="cicd.migrations.conflicts",
            location=Location(path, 1) if path else None,
        )


@register("cicd.migrations.unapplied", title="Migrations pending on each database", needs_database=True)
def unapplied_migrations(ctx: CheckContext) -> Iterator[Finding]:
    """Migrations the code has and the target database has not applied yet.

    Before a deploy this is information: the deploy exists to apply them, and the list is what
    ``safe_migrate`` will run. After a deploy (``predeploy --expect-migrated``) it is an error.
    """
    expect_migrated = bool(ctx.options.get("expect_migrated"))
    for alias in ctx.databases:
        if not any(router.allow_migrate_model(alias, model) for model in apps.get_models()):
            yield Finding(
                message=f"{alias}: the database routers allow no model to migrate here; not checked",
                severity=Severity.INFO,
                code="cicd.migrations.unapplied",
                extra={"database": alias},
            )
            continue
        plan = ctx.plan(alias)
        if plan:
            labels = [step.label for step in plan]
            shown = ", ".join(labels[:10]) + (f" and {len(labels) - 10} more" if len(labels) > 10 else "")
            yield Finding(
                message=f"{alias}: {len(plan)} unapplied migration(s): {shown}",
                severity=Severity.ERROR if expect_migrated else Severity.INFO,
                hint=f"Apply them with `python manage.py safe_migrate --database {alias}`.",
                code="cicd.migrations.unapplied",
                extra={"database": alias, "migrations": labels},
            )


@register("cicd.migrations.unknown", title="The database history matches the code", needs_database=True)
def unknown_migrations(ctx: CheckContext) -> Iterator[Finding]:
    """Migrations recorded in the database but missing from the code: the code is older than the schema.

    Shipping it means running code against columns and tables it does not know, and leaves no files
    to reverse those migrations with.
    """
    for alias in ctx.databases:
        applied = ctx.applied(alias)
        unknown = unknown_applied(ctx.loader, applied)
        if unknown:
            labels = [f"{app}.{name}" for app, name in unknown]
            yield Finding(
                message=(
                    f"{alias}: {len(unknown)} migration(s) are applied in the database but absent from "
                    f"this code: {', '.join(labels)}. The code is older than the database."
                ),
                hint=(
                    "Deploy the release that contains these migrations, or roll the database back first "
                    "with `python manage.py rollback_release` run from the newer release's code."
                ),
                code="cicd.migrations.unknown",
                extra={"database": alias, "migrations": labels},
            )
        stale = stale_applied(ctx.loader, applied)
        if stale:
            labels = [f"{app}.{name}" for app, name in stale]
            yield Finding(
                message=(
                    f"{alias}: {len(stale)} recorded migration(s) no longer exist in the code but are older "
                    f"than its latest: {', '.join(labels)} (left over from a squash or a rename)"
                ),
                severity=Severity.WARNING,
                hint="Once every database has moved past them, delete these rows from django_migrations.",
                code="cicd.migrations.stale",
                extra={"database": alias, "migrations": labels},
            )
        try:
            ctx.loader.check_consistent_history(connections[alias])
        except InconsistentMigrationHistory as exc:
            yield Finding(
                message=f"{alias}: {exc}",
                hint=(
                    "`migrate` refuses to run on this database. Find how the dependency was skipped (a "
                    "migration edited after it ran, a squash applied by hand) and record or apply it."
                ),
                code="cicd.migrations.inconsistent",
                extra={"database": alias},
            )
        for app_label, count in sorted(uninstalled_applied(applied).items()):
            yield Finding(
                message=(
                    f"{alias}: {count} migration(s) of app {app_label!r} are recorded, but the app is "
                    "not in INSTALLED_APPS."
                ),
                severity=Severity.WARNING,
                hint=(
                    f"If {app_label!r} was removed on purpose, drop its tables and remove its rows "
                    f"(app = {app_label!r}) from the django_migrations table; otherwise add it back."
                ),
                code="cicd.migrations.uninstalled",
            )
