"""The release ledger: the only module that writes and reads :class:`~django_cicd.models.Release` rows.

Every row lives in the database it describes (``Release.objects.using(alias)``), so a restore of a
backup brings back the ledger as it was when the backup was taken; the runs that follow write their
own rows again (:func:`finish` saves a row a restore removed).

On a fresh database the ledger table only exists once django_cicd's own migration has run: a run
keeps its row in memory until then (:func:`save_when_possible`), because creating the table first
would change the database before the backup.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import connections
from django.db.models import Q
from django.utils import timezone

from django_cicd.models import Release
from django_cicd.release import detect_release, printable

Status = Release.Status
Kind = Release.Kind

#: The release name recorded when nothing names it.
UNNAMED = "unnamed"
#: Statuses of a run that has not finished (or was killed before it could say so).
UNFINISHED = (Status.PENDING, Status.MIGRATING)


def detect_release_name(explicit: str | None) -> str:
    """The release name of this deploy, as Sentry sees it too (:func:`django_cicd.release.detect_release`);
    ``"unnamed"`` when nothing names it. Raises :class:`~django_cicd.release.InvalidReleaseName` for an
    explicit name neither can use."""
    name, _source = detect_release(explicit)
    return name or UNNAMED


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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid in some containers
        return str(os.getuid())


# --- writing -----------------------------------------------------------------------------------------


def start(
    *,
    name: str,
    kind: str,
    database: str,
    state_before: Mapping[str, str | None],
    plan: Sequence[Mapping[str, Any]],
    image: tuple[str, str] = ("", ""),
    target: Release | None = None,
    environment: str | None = None,
    backup: Any = None,
    details: Mapping[str, Any] | None = None,
    save: bool = True,
) -> Release:
    """A new row (status migrating) for a run about to change ``database``; saved now when ``save`` and
    the ledger table exists, else kept in memory (see :func:`save_when_possible`)."""
    release = Release(
        name=printable(name)[:200],
        kind=kind,
        status=Status.MIGRATING,
        database=database,
        environment=environment or "",
        state_before=dict(state_before),
        plan=[dict(step) for step in plan],
        image_repository=image[0],
        image_digest=image[1],
        target=target,
        host=socket.gethostname(),
        user=_user(),
        pid=os.getpid(),
        started_at=timezone.now(),
        details=dict(details or {}),
    )
    if backup is not None:
        release.backup_name = backup.name
        release.backup_sha256 = backup.sha256
        release.backup_size = backup.size
        release.backup_storage = backup.storage
        release.backup_compressed = backup.compressed
        release.backup_encrypted = backup.encrypted
    if save:
        save_when_possible(release)
    return release


def is_saved(release: Release) -> bool:
    """False for a row still kept in memory (the ledger table did not exist yet)."""
    return release.pk is not None


def save_when_possible(release: Release) -> bool:
    """Save a row kept in memory once the ledger table exists; True when the row is in the table."""
    if is_saved(release):
        return True
    if not table_exists(release.database):
        return False
    release.save(using=release.database)
    return True


def update(release: Release, **fields: Any) -> Release:
    """Set ``fields`` and save them now when the row is in the table."""
    for key, value in fields.items():
        setattr(release, key, value)
    if release.pk is not None:
        release.save(using=release.database, update_fields=list(fields))
    return release


def _present(release: Release) -> bool:
    return bool(Release.objects.using(release.database).filter(pk=release.pk, started_at=release.started_at).exists())


def finish(
    release: Release,
    *,
    status: str,
    state_after: Mapping[str, str | None] | None = None,
    error: str = "",
    plan: Sequence[Mapping[str, Any]] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Release:
    """Record the outcome of a run. A row a restore removed (or one still in memory) is saved again,
    under a fresh id, when the ledger table exists."""
    release.status = status
    release.finished_at = timezone.now()
    release.error = printable(error)
    if state_after is not None:
        release.state_after = dict(state_after)
    if plan is not None:
        release.plan = [dict(step) for step in plan]
    if details is not None:
        release.details = {**(release.details or {}), **details}
    if not table_exists(release.database):
        release.pk = None
        return release
    if release.pk is not None and not _present(release):
        release.pk = None  # a restore brought the table back as it was: take a fresh id
    release.save(using=release.database)
    return release


def record_replica(
    *,
    name: str,
    database: str,
    state: Mapping[str, str | None],
    image: tuple[str, str],
    environment: str | None,
) -> tuple[Release | None, bool]:
    """A deploy that found nothing to apply: recorded once; replicas of the same release share its row.
    Returns (the row, whether it already existed)."""
    if not table_exists(database):
        return None, False
    latest = current_release(database)
    if (
        latest is not None
        and latest.name == name
        and latest.state_after == dict(state)
        and (latest.image_repository, latest.image_digest) == image
    ):
        return latest, True
    release = start(
        name=name,
        kind=Kind.DEPLOY,
        database=database,
        state_before=state,
        plan=[],
        image=image,
        environment=environment,
    )
    finish(release, status=Status.SUCCEEDED, state_after=state)
    return release, False


def close_interrupted(release: Release, *, status: str, error: str) -> Release:
    """Close the row of a run that died (found by a later run, which holds the lock)."""
    release.status = status
    release.error = printable(error)
    release.finished_at = timezone.now()
    if release.pk is not None and _present(release):
        release.save(using=release.database, update_fields=["status", "error", "finished_at"])
    return release


def mark_rolled_back(releases: Iterable[Release]) -> None:
    """The releases a rollback undid become ``rolled_back``; after a restore their rows (gone with it)
    come back."""
    for release in releases:
        release.status = Status.ROLLED_BACK
        if release.pk is not None and _present(release):
            release.save(using=release.database, update_fields=["status"])
        else:
            release.pk = None
            release.target = None
            release.save(using=release.database)


# --- reading -------------------------------------------------------------------------------------------


def deploys(database: str) -> Any:
    return Release.objects.using(database).filter(database=database, kind=Kind.DEPLOY)


def succeeded_deploys(database: str) -> list[Release]:
    """Succeeded deploys, newest first: the rollback targets."""
    if not table_exists(database):
        return []
    return list(deploys(database).filter(status=Status.SUCCEEDED).order_by("-started_at", "-id"))


def group_by_release(rows: Sequence[Release]) -> list[list[Release]]:
    """Rows (newest first) grouped by release: the rows of one release deployed in stages
    (``safe_migrate --stage pre`` then ``post``) follow each other under one name."""
    groups: list[list[Release]] = []
    for row in rows:
        if groups and groups[-1][0].name == row.name:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def stage(release: Release) -> str | None:
    """The stage a deploy row applied ("pre", "post"), or None for a whole release."""
    details = release.details if isinstance(release.details, dict) else {}
    value = details.get("stage")
    return value if value in ("pre", "post") else None


def find_deploy(database: str, wanted: str) -> Release | None:
    """A succeeded (or rolled back) deploy by ledger id or name (the latest of that name)."""
    candidates = deploys(database).filter(status__in=[Status.SUCCEEDED, Status.ROLLED_BACK])
    found: Release | None = None
    if wanted.isdigit():
        found = candidates.filter(pk=int(wanted)).first()
    if found is None:
        found = candidates.filter(name=wanted).order_by("-started_at", "-id").first()
    return found


def recent_names(database: str, limit: int = 10) -> list[str]:
    names = deploys(database).filter(status=Status.SUCCEEDED).values_list("name", flat=True)[:limit]
    return list(dict.fromkeys(names))


def previous_succeeded(database: str, *, before: Release | None = None) -> Release | None:
    """The latest succeeded deploy on ``database`` (before ``before``, when given)."""
    if not table_exists(database):
        return None
    queryset = deploys(database).filter(status=Status.SUCCEEDED)
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
        .filter(database=database, status=Status.SUCCEEDED)
        .order_by("-started_at", "-id")
        .first()
    )
    return release


def unfinished(database: str) -> list[Release]:
    """Rows of runs that never finished, and of runs that stopped with a migration half applied (their
    lock was lost, so they left it to the next run). Whether their runs are dead is for the caller to
    find out."""
    if not table_exists(database):
        return []
    rows = Release.objects.using(database).filter(database=database).order_by("started_at", "id")
    candidates = rows.filter(Q(status__in=UNFINISHED) | Q(details__has_key="needs_recovery"))
    return [
        row
        for row in candidates
        if row.status in UNFINISHED or (isinstance(row.details, dict) and row.details.get("needs_recovery") is True)
    ]


def release_that_applied(database: str, keys: Iterable[tuple[str, str]]) -> Release | None:
    """The latest row whose plan applied one of ``keys`` (app, migration), or whose recorded state has
    one of them as an app's leaf: who put the database ahead of this code."""
    if not table_exists(database):
        return None
    wanted = set(keys)
    release: Release
    for release in Release.objects.using(database).filter(database=database).order_by("-started_at", "-id")[:200]:
        plan = release.plan if isinstance(release.plan, list) else []
        if any((s.get("app"), s.get("name")) in wanted for s in plan if isinstance(s, dict)):
            return release
        state = release.state_after if isinstance(release.state_after, dict) else {}
        if any((app, name) in wanted for app, name in state.items()):
            return release
    return None


@dataclass
class ReleaseListing:
    """What ``manage.py releases`` shows: the ledger of one database, newest first."""

    database: str
    exists: bool
    rows: list[Release]
    command: ClassVar[str] = "releases"
    exit_code: ClassVar[int] = 0

    @property
    def status(self) -> str:
        return "listed" if self.exists else "no_ledger"

    @property
    def summary(self) -> str:
        if not self.exists:
            return (
                f"no release ledger in database {self.database!r} yet: safe_migrate creates it "
                f"(manage.py safe_migrate --database {self.database})"
            )
        return f"{len(self.rows)} release row(s) of database {self.database!r}, newest first"

    def as_dict(self) -> dict[str, Any]:
        from django_cicd.results import envelope

        return {
            **envelope("releases", command=self.command, status=self.status, exit_code=0, summary=self.summary),
            "database": self.database,
            "ledger_exists": self.exists,
            "releases": [row.as_dict() for row in self.rows],
        }


def listing(database: str, *, limit: int | None = 20, kind: str | None = None) -> ReleaseListing:
    exists = table_exists(database)
    return ReleaseListing(database, exists, list_releases(database, limit=limit, kind=kind) if exists else [])


def list_releases(database: str, *, limit: int | None = 20, kind: str | None = None) -> list[Release]:
    if not table_exists(database):
        return []
    queryset = Release.objects.using(database).filter(database=database).order_by("-started_at", "-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    return list(queryset[:limit] if limit else queryset)
