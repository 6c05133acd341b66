"""The release ledger: write and read :class:`~django_cicd.models.Release` rows in each database.

Every row lives in the database it describes (``Release.objects.using(alias)``), so a restore of a
backup brings back the ledger as it was when the backup was taken; the runs that follow write their
own rows again.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone

from django_cicd.models import Release

#: Environment variables that name the release, in the order they are read.
RELEASE_VARIABLES = (
    "SENTRY_RELEASE",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "SOURCE_VERSION",
    "HEROKU_SLUG_COMMIT",
    "K_REVISION",
)
#: The release name recorded when nothing names it.
UNNAMED = "unnamed"
#: Statuses of a run that has not finished (or was killed before it could say so).
UNFINISHED = ("pending", "migrating")


def detect_release_name(explicit: str | None) -> str:
    """``--release``, else the first CI variable set, else a ``REVISION`` file, else ``"unnamed"``.

    The REVISION file (one line, as Capistrano and many image builds write it) is looked for in the
    working directory, then next to the settings' ``BASE_DIR``.
    """
    if explicit and explicit.strip():
        return explicit.strip()
    for variable in RELEASE_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    candidates = [Path.cwd() / "REVISION"]
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir:
        candidates += [Path(base_dir) / "REVISION", Path(base_dir).parent / "REVISION"]
    for path in candidates:
        try:
            value = path.read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if value:
            return value
    return UNNAMED


def parse_image(value: str | None) -> tuple[str, str]:
    """``REPO@DIGEST`` into (repo, digest); ``REPO:TAG`` or ``REPO`` into (``REPO:TAG``, "")."""
    value = (value or "").strip()
    if not value:
        return "", ""
    if "@" in value:
        repository, digest = value.split("@", 1)
        return repository, digest
    return value, ""


def table_exists(database: str) -> bool:
    connection = connections[database]
    with connection.cursor() as cursor:
        return Release._meta.db_table in connection.introspection.table_names(cursor)


def start_release(
    *,
    name: str,
    kind: str,
    database: str,
    state_before: Mapping[str, str | None],
    plan: Sequence[Mapping[str, Any]],
    image_repository: str = "",
    image_digest: str = "",
    target: Release | None = None,
    environment: str | None = None,
    save: bool = True,
) -> Release:
    """A new row (status pending) for a run about to start, saved unless ``save=False``.

    ``save=False`` keeps the row in memory: on a fresh database the ledger table only exists once
    django_cicd's own migration has run, and safe_migrate saves the row at that point.
    """
    release = Release(
        name=name[:200],
        kind=kind,
        status="pending",
        database=database,
        environment=environment or "",
        state_before=dict(state_before),
        plan=[dict(step) for step in plan],
        image_repository=image_repository,
        image_digest=image_digest,
        target=target,
        host=socket.gethostname(),
        user=_user(),
        pid=os.getpid(),
        started_at=timezone.now(),
    )
    if save:
        release.save(using=database)
    return release


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid in some containers
        return str(os.getuid())


def is_saved(release: Release) -> bool:
    """False for a row still kept in memory (the ledger table did not exist yet)."""
    return release.pk is not None


def update_release(release: Release, **fields: Any) -> Release:
    """Set ``fields`` and save them now when the row is in the database."""
    for key, value in fields.items():
        setattr(release, key, value)
    if release.pk is not None:
        release.save(using=release.database, update_fields=list(fields))
    return release


def finish_release(
    release: Release,
    *,
    status: str,
    state_after: Mapping[str, str | None] | None = None,
    error: str = "",
    plan: Sequence[Mapping[str, Any]] | None = None,
) -> Release:
    """Record the outcome of a run; saves the row (in the database it describes)."""
    release.status = status
    release.finished_at = timezone.now()
    release.error = error
    if state_after is not None:
        release.state_after = dict(state_after)
    if plan is not None:
        release.plan = [dict(step) for step in plan]
    release.save(using=release.database)
    return release


def previous_succeeded(database: str, *, before: Release | None = None) -> Release | None:
    """The latest succeeded deploy on ``database`` (before ``before``, when given): the default rollback target."""
    if not table_exists(database):
        return None
    queryset = Release.objects.using(database).filter(database=database, kind="deploy", status="succeeded")
    if before is not None:
        queryset = queryset.filter(started_at__lte=before.started_at).exclude(pk=before.pk)
        queryset = queryset.exclude(started_at=before.started_at, pk__gt=before.pk)
    release: Release | None = queryset.order_by("-started_at", "-id").first()
    return release


def current_release(database: str) -> Release | None:
    """The release the database is at now: the latest succeeded deploy or rollback."""
    if not table_exists(database):
        return None
    release: Release | None = (
        Release.objects.using(database)
        .filter(database=database, status="succeeded")
        .order_by("-started_at", "-id")
        .first()
    )
    return release


def unfinished_releases(database: str) -> list[Release]:
    """Rows of runs that never finished. Call it with the deploy lock held: their runs are dead."""
    if not table_exists(database):
        return []
    return list(
        Release.objects.using(database).filter(database=database, status__in=UNFINISHED).order_by("started_at", "id")
    )


def list_releases(database: str, *, limit: int | None = 20, kind: str | None = None) -> list[Release]:
    if not table_exists(database):
        return []
    queryset = Release.objects.using(database).filter(database=database).order_by("-started_at", "-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    return list(queryset[:limit] if limit else queryset)
