from __future__ import annotations

import inspect
from collections.abc import Iterator

from django.core import checks as django_checks
from django.core.checks.registry import registry as django_registry
from django.db import DatabaseError

from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.planning import relative_path
from django_cicd.redaction import redact
from django_cicd.report import Finding, Location, Severity


@register("cicd.django.checks", title="Django system checks, deploy checks included")
def django_system_checks(ctx: CheckContext) -> Iterator[Finding]:
    """Runs Django's system checks with the deploy tag, as ``manage.py check --deploy`` does.

    Each message keeps its own id (``security.W004``...) and level. predeploy's default fail level is
    *warning*: Django's own default (error) lets ``DEBUG = True`` reach production, since nearly every
    deploy check is a warning. Database-backed checks run only on the target aliases.
    """
    databases = ctx.databases if ctx.use_database else None
    messages: list[django_checks.CheckMessage] = []
    for check in django_registry.get_checks(include_deployment_checks=True):
        try:
            messages.extend(check(app_configs=None, databases=databases))
        except DatabaseError as exc:
            # Some model checks read connection.features, which on MySQL/MariaDB asks the server for
            # its version even when no database checks were requested.
            name = f"{check.__module__}.{getattr(check, '__qualname__', check)}"
            silence = ctx.silence() if ctx.use_database else None
            if silence:
                yield Finding(
                    message=f"{name} needs the database and was not run: {silence}",
                    severity=Severity.INFO,
                    code="cicd.django.needs_database",
                )
                continue
            if ctx.use_database:
                raise
            yield Finding(
                message=redact(f"{name} needs a database connection and was not run under --no-db: {exc}"),
                severity=Severity.INFO,
                code="cicd.django.needs_database",
                hint="It runs in the predeploy stage that has the database (without --no-db).",
            )
    for message in messages:
        if message.is_silenced():
            continue
        yield Finding(
            message=str(message.msg),
            severity=Severity.nearest(message.level),
            hint=message.hint,
            code=message.id or "django.unknown",
            location=_location(message),
            extra={"object": str(message.obj)} if message.obj is not None else {},
        )


def _location(message: django_checks.CheckMessage) -> Location | None:
    obj = message.obj
    if obj is None:
        return None
    if inspect.isclass(obj) or inspect.isfunction(obj):
        target = obj
    elif inspect.isclass(getattr(obj, "model", None)):
        target = obj.model  # a field or a model admin: point at its model
    else:
        return None
    try:
        path = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (TypeError, OSError):
        return None
    if path is None or "site-packages" in path or "dist-packages" in path:
        return None
    return Location(relative_path(path), line)
