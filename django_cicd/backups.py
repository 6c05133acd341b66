"""The one place that talks to django-dbbackup: readiness, backup, verify and restore.

django-dbbackup reads its settings once at import, so this module imports it lazily, inside the
functions, and never at module level.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connections

STORAGE_ALIAS = "dbbackup"


class BackupNotReady(Exception):
    """Raised with one sentence saying what is missing and how to fix it."""


def storage() -> Storage:
    """``storages["dbbackup"]``; raises BackupNotReady when it is not configured."""
    if STORAGE_ALIAS not in getattr(settings, "STORAGES", {}):
        raise BackupNotReady(
            "STORAGES['dbbackup'] is not configured, so backups would go to an implicit place; "
            "add it, e.g. STORAGES['dbbackup'] = {'BACKEND': 'django.core.files.storage.FileSystemStorage', "
            "'OPTIONS': {'location': '/var/backups/myproject'}}."
        )
    return storages[STORAGE_ALIAS]


def storage_description(backend: Storage) -> str:
    location = getattr(backend, "location", None)
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    return f"{name} at {location}" if location else name


def check_storage_writable() -> str:
    """Write, read back and delete a small file in the backup storage; return its description."""
    backend = storage()
    probe = f".django-cicd-probe-{uuid.uuid4().hex}"
    try:
        name = backend.save(probe, ContentFile(b"django-cicd"))
        try:
            with backend.open(name, "rb") as handle:
                if handle.read() != b"django-cicd":
                    raise BackupNotReady(
                        f"the backup storage ({storage_description(backend)}) "
                        "returned different bytes than were written"
                    )
        finally:
            backend.delete(name)
    except BackupNotReady:
        raise
    except Exception as exc:
        raise BackupNotReady(
            f"the backup storage ({storage_description(backend)}) is not writable: {type(exc).__name__}: {exc}"
        ) from exc
    return storage_description(backend)


@dataclass(frozen=True)
class DumpClient:
    alias: str
    connector: str
    #: The dump program, or None when the connector dumps in-process (SQLite's backup API).
    command: str | None
    path: str | None = None
    version: tuple[int, ...] | None = None
    version_text: str = ""


def connector_for(alias: str) -> Any:
    from dbbackup.db.base import get_connector

    return get_connector(alias)


def dump_client(alias: str) -> DumpClient:
    """The dump program dbbackup's connector for ``alias`` will run, found on PATH, with its version."""
    connector = connector_for(alias)
    name = f"{type(connector).__module__}.{type(connector).__qualname__}"
    command = getattr(connector, "dump_cmd", None)
    if not command:
        return DumpClient(alias, name, None)
    program = str(command).split()[0]
    path = shutil.which(program)
    if path is None:
        raise BackupNotReady(
            f"{alias}: {name} runs {program!r}, which is not on PATH; install the database's client "
            "tools (e.g. Debian's postgresql-client or mariadb-client) in the image that runs safe_migrate."
        )
    output = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    text = (output.stdout or output.stderr).strip()
    return DumpClient(alias, name, program, path, parse_client_version(text), text)


_VERSION_PATTERNS = [
    re.compile(r"Distrib (\d+)\.(\d+)"),  # mysqldump of MariaDB 10.x: "Ver 10.19 Distrib 10.11.6-MariaDB"
    re.compile(r"from (\d+)\.(\d+)"),  # mariadb-dump 11.x: "mariadb-dump from 11.4.2-MariaDB"
    re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?"),
    re.compile(r"Ver (\d+)\.(\d+)"),  # MySQL 8: "mysqldump  Ver 8.0.36 for Linux"
]


def parse_client_version(text: str) -> tuple[int, ...] | None:
    for pattern in _VERSION_PATTERNS:
        match = pattern.search(text)
        if match:
            return tuple(int(g) for g in match.groups() if g is not None)
    return None


def server_version(alias: str) -> tuple[int, ...] | None:
    """The server version in the same shape as the dump client's (see the vendor adapters)."""
    from django_cicd import vendors

    connection = connections[alias]
    return vendors.adapter(connection).server_version(connection)


# --- backup, verify, restore -------------------------------------------------------------------

#: Backups written by safe_migrate start with this, so they are easy to tell from other dumps.
NAME_PREFIX = "cicd"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup could not be taken, verified or restored; one sentence with the fix."""


@dataclass(frozen=True)
class BackupInfo:
    name: str
    sha256: str
    size: int
    storage: str
    compressed: bool
    encrypted: bool
    created_at: str
    state: dict[str, Any]
    release: str
    database: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "storage": self.storage,
            "compressed": self.compressed,
            "encrypted": self.encrypted,
            "created_at": self.created_at,
            "state": self.state,
            "release": self.release,
            "database": self.database,
        }


def _sync_dbbackup_settings() -> None:
    """django-dbbackup reads Django's settings once, at import; read them again now.

    Its own tests do the same after ``override_settings``; without it a storage or connector
    configured after the first import (tests, settings changed at runtime) would be ignored.
    """
    import importlib

    from dbbackup import settings as dbbackup_settings

    current = getattr(settings, "STORAGES", {}).get(STORAGE_ALIAS, {})
    if (
        current.get("BACKEND") != dbbackup_settings.STORAGE
        or current.get("OPTIONS", {}) != dbbackup_settings.STORAGE_OPTIONS
    ):
        importlib.reload(dbbackup_settings)


@contextlib.contextmanager
def dbbackup_leaks_files() -> Iterator[None]:
    """django-dbbackup leaves its SpooledTemporaryFile objects unclosed (a ResourceWarning when they are
    collected); collect them here, where that warning is known and silenced, not in the caller's code."""
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def backup_name(database: str, release: str, *, compressed: bool = False, encrypted: bool = False) -> str:
    """``cicd-<alias>-<release>-<UTC time>-<random>.<extension>``: unique, sortable, says what it is."""
    connector = connector_for(database)
    safe_release = re.sub(r"[^A-Za-z0-9_.-]+", "-", release)[:40].strip("-") or "unnamed"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{NAME_PREFIX}-{database}-{safe_release}-{stamp}-{uuid.uuid4().hex[:6]}.{connector.extension}"
    if compressed:
        name += ".gz"
    if encrypted:
        name += ".gpg"
    return name


def _sha256_of(backend: Storage, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with backend.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sha256_of(name: str) -> tuple[str, int]:
    """The sha256 and size of backup ``name`` as the storage holds it now."""
    return _sha256_of(storage(), name)


def _owner_only(backend: Storage, name: str) -> None:
    """Backups hold every row of the database: readable by their owner only (0600)."""
    try:
        path = backend.path(name)
    except NotImplementedError:
        return  # remote storages have no file mode; their access is set by bucket policy
    os.chmod(path, 0o600)


def take_backup(
    database: str, *, release: str, state: dict[str, Any], compress: bool = False, encrypt: bool = False
) -> BackupInfo:
    """Back ``database`` up through django-dbbackup into ``STORAGES["dbbackup"]``; return what was written.

    The file name is ours (django-dbbackup's retention matches by substring: the ledger, not the
    name, finds a release's backup). The release and the migration state it holds go into
    dbbackup's ``.metadata`` file and into the returned :class:`BackupInfo`; the file is made
    readable by its owner only, then read back for its sha256.
    """
    from django.core.management import call_command

    backend = storage()
    _sync_dbbackup_settings()
    name = backup_name(database, release, compressed=compress, encrypted=encrypt)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    old_umask = os.umask(0o077)
    try:
        with dbbackup_leaks_files():
            call_command(
                "dbbackup",
                database=database,
                output_filename=name,
                compress=compress,
                encrypt=encrypt,
                interactive=False,
                verbosity=0,
            )
    except BaseException as exc:
        discard(backend, name)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        cause = _original_error(exc)
        raise BackupError(
            f"the backup of database {database!r} into {storage_description(backend)} failed: "
            f"{type(cause).__name__}: {cause}; fix the storage (space, permissions) or the dump client and run again"
        ) from exc
    finally:
        os.umask(old_umask)
    try:
        _owner_only(backend, name)
        _owner_only(backend, f"{name}.metadata")
        sha256, size = _sha256_of(backend, name)
        info = BackupInfo(
            name=name,
            sha256=sha256,
            size=size,
            storage=storage_description(backend),
            compressed=compress,
            encrypted=encrypt,
            created_at=created_at,
            state=dict(state),
            release=release,
            database=database,
        )
        _write_metadata(backend, info)
    except OSError as exc:
        discard(backend, name)
        raise BackupError(
            f"the backup of database {database!r} was written to {storage_description(backend)} but could not be "
            f"read back: {exc}; check the storage and run again"
        ) from exc
    return info


def _original_error(exc: BaseException) -> BaseException:
    """The first error of the chain: dbbackup may fail again while mailing the first one to ADMINS."""
    seen = {id(exc)}
    while exc.__context__ is not None and id(exc.__context__) not in seen:
        exc = exc.__context__
        seen.add(id(exc))
    return exc


def discard(backend: Storage, name: str) -> None:
    for candidate in (name, f"{name}.metadata"):
        with contextlib.suppress(Exception):
            if backend.exists(candidate):
                backend.delete(candidate)


def _write_metadata(backend: Storage, info: BackupInfo) -> None:
    """Add our fields to the ``.metadata`` file django-dbbackup wrote next to the backup."""
    metadata_name = f"{info.name}.metadata"
    metadata: dict[str, Any] = {}
    if backend.exists(metadata_name):
        with backend.open(metadata_name, "rb") as handle, contextlib.suppress(ValueError):
            metadata = json.loads(handle.read() or b"{}")
        backend.delete(metadata_name)
    metadata["django_cicd"] = {key: value for key, value in info.as_dict().items() if key != "name"}
    old_umask = os.umask(0o077)
    try:
        backend.save(metadata_name, ContentFile(json.dumps(metadata, indent=2).encode()))
    finally:
        os.umask(old_umask)
    _owner_only(backend, metadata_name)


def read_metadata(name: str) -> dict[str, Any]:
    """Our part of a backup's ``.metadata`` file (empty when there is none)."""
    backend = storage()
    try:
        with backend.open(f"{name}.metadata", "rb") as handle:
            data = json.loads(handle.read() or b"{}")
    except (OSError, ValueError):
        return {}
    value = data.get("django_cicd", {}) if isinstance(data, dict) else {}
    return value if isinstance(value, dict) else {}


def verify_backup(info: BackupInfo) -> None:
    """Read the backup back from the storage and compare its sha256 and size; raise BackupError."""
    backend = storage()
    try:
        sha256, size = _sha256_of(backend, info.name)
    except OSError as exc:
        raise BackupError(f"the backup {info.name} cannot be read back from {info.storage}: {exc}") from exc
    if sha256 != info.sha256 or size != info.size:
        raise BackupError(
            f"the backup {info.name} in {info.storage} does not match what was written "
            f"(sha256 {sha256[:12]}..., {size} bytes; expected {info.sha256[:12]}..., {info.size} bytes); "
            "the storage is corrupting files: do not migrate until it is fixed"
        )


def restore_backup(
    name: str, database: str, *, expected_sha256: str, compressed: bool | None = None, encrypted: bool | None = None
) -> None:
    """Restore backup ``name`` into ``database`` through django-dbbackup, after checking its sha256.

    Refuses (BackupError) when the file's sha256 is not ``expected_sha256``: a backup that changed
    since it was taken is not restored over a database. Compression and encryption are read from
    the name (``.gz``, ``.gpg``) unless given, because dbrestore does not infer them.
    """
    from django.core.management import call_command

    backend = storage()
    _sync_dbbackup_settings()
    try:
        sha256, _size = _sha256_of(backend, name)
    except OSError as exc:
        raise BackupError(f"the backup {name} cannot be read from {storage_description(backend)}: {exc}") from exc
    if sha256 != expected_sha256:
        raise BackupError(
            f"refusing to restore {name}: its sha256 is {sha256[:12]}..., the ledger recorded "
            f"{expected_sha256[:12]}...; the file changed since it was taken"
        )
    if compressed is None:
        compressed = ".gz" in name.rsplit("/", 1)[-1].split(".", 1)[-1]
    if encrypted is None:
        encrypted = name.endswith(".gpg")
    # dbrestore replaces the database under Django's feet: close our connections to it first.
    connections[database].close()
    try:
        with dbbackup_leaks_files():
            call_command(
                "dbrestore",
                database=database,
                input_filename=name,
                uncompress=compressed,
                decrypt=encrypted,
                interactive=False,
                verbosity=0,
            )
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        cause = _original_error(exc)
        raise BackupError(
            f"restoring {name} into database {database!r} failed: {type(cause).__name__}: {cause}"
        ) from exc
    finally:
        connections[database].close()
