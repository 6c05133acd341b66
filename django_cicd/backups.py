"""The one place that talks to django-dbbackup: readiness, backup, verify and restore.

django-dbbackup reads its settings once at import, so this module imports it lazily, inside the
functions, and never at module level. Before it uses dbbackup it registers django-cicd's connectors
(:mod:`django_cicd.dbbackup_connectors`), which keep the database password off the clients' command
lines and track the clients they start.

Every backup records the identity of the database it was taken of (:attr:`BackupInfo.identity`, and
in its ``.metadata`` file); :func:`restore_backup` refuses to restore it into another database unless
told to, and refuses a backup whose metadata file cannot be read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connections

from django_cicd import events
from django_cicd.redaction import redact

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
    """Where backups go, in words: the class and its directory, or (object storage) its bucket."""
    location = getattr(backend, "location", None)
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    bucket = getattr(backend, "bucket_name", None)
    if bucket:
        kind = "S3 bucket" if type(backend).__module__.startswith("storages.backends.s3") else "bucket"
        prefix = f", prefix {location!r}" if location else ""
        return f"{kind} {bucket!r}{prefix} ({name})"
    return f"{name} at {location}" if location else name


def _storage_fix(backend: Storage) -> str:
    """What to check when the storage refused or failed a write, for the end of an error message."""
    bucket = getattr(backend, "bucket_name", None)
    if not bucket:
        return "fix the storage (space, permissions) or the dump client and run again"
    endpoint = getattr(backend, "endpoint_url", None) or "the storage's endpoint"
    return (
        f"check that bucket {bucket!r} exists and that these credentials may s3:PutObject, s3:GetObject and "
        f"s3:DeleteObject in it, and the network to {endpoint}, then run again"
    )


#: Canned ACLs that let others than the bucket owner read an object.
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read", "aws-exec-read"})


def check_private(backend: Storage) -> None:
    """Refuse a storage configured to write backups readable by others (an object storage's canned ACL):
    a backup holds every row of the database. Raises BackupNotReady."""
    parameters = getattr(backend, "object_parameters", None) or {}
    settings_acl = [
        ("OPTIONS['default_acl']", getattr(backend, "default_acl", None)),
        ("OPTIONS['object_parameters']['ACL']", parameters.get("ACL")),
    ]
    for where, acl in settings_acl:
        if isinstance(acl, str) and acl.lower() in PUBLIC_ACLS:
            raise BackupNotReady(
                f"STORAGES['dbbackup'] makes backups public (ACL {acl!r}): a backup holds every row of the "
                f"database; set {where} to 'private' (or leave it unset on a bucket without ACLs)"
            )


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a storage raises when it cannot read or write: OSError, and botocore's errors for S3."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        pass
    else:
        errors += [BotoCoreError, ClientError]
    return tuple(errors)


def check_storage_writable() -> str:
    """Write, read back and delete a small file in the backup storage; return its description."""
    backend = storage()
    check_private(backend)
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
    #: False when the connector is not one of django-cicd's (the project chose its own in
    #: DBBACKUP_CONNECTORS or DBBACKUP_CONNECTOR_MAPPING) and so may put the password on the
    #: client's command line; True for django-cicd's connectors and for in-process dumps.
    password_off_command_line: bool = True


def connector_for(alias: str) -> Any:
    """The django-dbbackup connector dbbackup will use for ``alias`` (ours unless the project chose one)."""
    from dbbackup.db.base import get_connector

    _prepare_dbbackup()
    return get_connector(alias)


def dump_client(alias: str) -> DumpClient:
    """The dump program dbbackup's connector for ``alias`` will run, found on PATH, with its version."""
    from django_cicd.dbbackup_connectors import ClientCredentials

    connector = connector_for(alias)
    name = f"{type(connector).__module__}.{type(connector).__qualname__}"
    command = getattr(connector, "dump_cmd", None)
    if not command:
        return DumpClient(alias, name, None)
    safe = isinstance(connector, ClientCredentials)
    program = str(command).split()[0]
    path = shutil.which(program)
    if path is None:
        raise BackupNotReady(
            f"{alias}: {name} runs {program!r}, which is not on PATH; install the database's client "
            "tools (e.g. Debian's postgresql-client or mariadb-client) in the image that runs safe_migrate."
        )
    output = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    text = (output.stdout or output.stderr).strip()
    return DumpClient(alias, name, program, path, parse_client_version(text), text, safe)


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


class UnreadableMetadata(BackupError):
    """A backup's ``.metadata`` file exists but is not valid JSON, or our part of it is not an object:
    what it records (database, migration state) cannot be checked, so the backup is not restored."""

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        #: What is wrong with the file, e.g. "is not valid JSON (Expecting value: ...)".
        self.problem = problem


class OtherDatabaseBackup(BackupError):
    """The backup was taken of another database than the one it would be restored into."""


#: The option of rollback_release that allows a restore into another database.
ALLOW_OTHER_DATABASE_OPTION = "--restore-into-other-database"


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
    #: The database the backup was taken of, as the vendor adapter tells it apart from every other
    #: (``vendors.adapter(connection).identity(connection)``): PostgreSQL's system identifier and
    #: database, MariaDB's @@server_uid (MySQL's @@server_uuid) and schema, SQLite's file.
    identity: dict[str, str] = field(default_factory=dict)

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
            "identity": self.identity,
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
        or getattr(settings, "DBBACKUP_CONNECTORS", {}) != dbbackup_settings.CONNECTORS
        or getattr(settings, "DBBACKUP_CONNECTOR_MAPPING", {}) != dbbackup_settings.CUSTOM_CONNECTOR_MAPPING
    ):
        importlib.reload(dbbackup_settings)


def _prepare_dbbackup() -> None:
    """dbbackup's settings as Django's are now, and django-cicd's connectors registered."""
    from django_cicd import dbbackup_connectors

    _sync_dbbackup_settings()
    dbbackup_connectors.register()


def identity_of(database: str) -> dict[str, str]:
    """What tells database ``database`` apart from every other one (see :attr:`BackupInfo.identity`)."""
    from django_cicd import vendors

    connection = connections[database]
    return vendors.adapter(connection).identity(connection)


def describe_identity(identity: Mapping[str, str]) -> str:
    """A database identity in words, e.g. "PostgreSQL database 'shop' of cluster 7291..."."""
    from django_cicd import vendors

    return vendors.describe_identity(identity)


def same_database(recorded: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """Whether two identities are one database: same vendor and database, and every server id that
    both know is the same (a PostgreSQL role that may not read the system identifier records none)."""
    if not recorded.get("database"):
        return False
    for key in ("vendor", "database"):
        if recorded.get(key) != current.get(key):
            return False
    known_to_both = [key for key in {*recorded, *current} if recorded.get(key) and current.get(key)]
    return all(recorded[key] == current[key] for key in known_to_both)


@contextlib.contextmanager
def dbbackup_leaks_files() -> Iterator[None]:
    """django-dbbackup leaves its SpooledTemporaryFile objects unclosed (a ResourceWarning when they are
    collected); collect them here, where that warning is known and silenced, not in the caller's code."""
    import gc
    import warnings

    from django_cicd.dbbackup_connectors import close_dumps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            close_dumps()
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


def _chunks(backend: Storage, name: str) -> Iterator[bytes]:
    """The bytes of ``name`` in the storage, streamed in chunks of at most CHUNK bytes.

    django-storages' S3File downloads a whole object into a SpooledTemporaryFile whose size limit,
    AWS_S3_MAX_MEMORY_SIZE, is 0 (none) by default, i.e. into memory: for it the object's body is read
    from S3 as a stream instead, so memory stays flat in the size of the backup.
    """
    with backend.open(name, "rb") as handle:
        obj = getattr(handle, "obj", None)  # S3File: the boto3 Object, loaded (HEAD) but not downloaded
        if obj is not None and callable(getattr(obj, "get", None)):
            body = obj.get()["Body"]
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()
            return
        while chunk := handle.read(CHUNK):
            yield chunk


def _sha256_of(backend: Storage, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in _chunks(backend, name):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _refusal(name: str, sha256: str, expected_sha256: str) -> BackupError:
    return BackupError(
        f"refusing to restore {name}: its sha256 is {sha256[:12]}..., the ledger recorded "
        f"{expected_sha256[:12]}...; the file changed since it was taken"
    )


def _copy_checked(backend: Storage, name: str, expected_sha256: str, target: Any) -> None:
    """Stream ``name`` into the open file ``target``, hashing it; raise BackupError unless it is intact."""
    digest = hashlib.sha256()
    try:
        for chunk in _chunks(backend, name):
            digest.update(chunk)
            target.write(chunk)
    except storage_errors() as exc:
        raise BackupError(
            redact(f"the backup {name} cannot be read from {storage_description(backend)}: {type(exc).__name__}: {exc}")
        ) from exc
    if digest.hexdigest() != expected_sha256:
        raise _refusal(name, digest.hexdigest(), expected_sha256)
    target.flush()


@contextlib.contextmanager
def verified_copy(backend: Storage, name: str, expected_sha256: str) -> Iterator[Any]:
    """A local copy of backup ``name``, read once from the storage with its sha256 checked against
    ``expected_sha256`` (BackupError otherwise), positioned at its start: what is restored is exactly
    what was checked. It stays in memory up to DBBACKUP_TMP_FILE_MAX_SIZE and goes to DBBACKUP_TMP_DIR
    beyond, so memory stays flat in the size of the backup."""
    import tempfile

    from dbbackup import settings as dbbackup_settings

    with tempfile.SpooledTemporaryFile(
        max_size=dbbackup_settings.TMP_FILE_MAX_SIZE, dir=dbbackup_settings.TMP_DIR
    ) as copy:
        _copy_checked(backend, name, expected_sha256, copy)
        copy.seek(0)
        yield copy


def _is_local(backend: Storage, name: str) -> bool:
    try:
        backend.path(name)
    except NotImplementedError:
        return False
    return True


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
    check_private(backend)
    _prepare_dbbackup()
    try:
        identity = identity_of(database)
    except Exception as exc:
        raise BackupError(
            redact(
                f"the backup of database {database!r} was not taken: its identity (server and database) could "
                f"not be read: {type(exc).__name__}: {exc}; check that the database is reachable"
            )
        ) from exc
    name = backup_name(database, release, compressed=compress, encrypted=encrypt)
    started = time.monotonic()
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
            redact(
                f"the backup of database {database!r} into {storage_description(backend)} failed: "
                f"{type(cause).__name__}: {cause}; {_storage_fix(backend)}"
            )
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
            identity=identity,
        )
        _write_metadata(backend, info)
    except storage_errors() as exc:
        discard(backend, name)
        raise BackupError(
            redact(
                f"the backup of database {database!r} was written to {storage_description(backend)} but could not "
                f"be read back: {type(exc).__name__}: {exc}; {_storage_fix(backend)}"
            )
        ) from exc
    events.emit(
        "backup.taken",
        backup=name,
        size=size,
        sha256=sha256,
        seconds=round(time.monotonic() - started, 4),
        storage=info.storage,
        compressed=compress,
        encrypted=encrypt,
    )
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
    """Our part of a backup's ``.metadata`` file: ``{}`` when the backup has no metadata file (taken
    before django-dbbackup 5.1 wrote one) or the file has no django-cicd part (taken by dbbackup
    alone). Raises :class:`UnreadableMetadata` when the file exists but cannot be read, is not valid
    JSON, or its django-cicd part is not an object: what it records cannot be checked."""
    value = _metadata(storage(), name)
    return {} if value is None else value


def _metadata(backend: Storage, name: str) -> dict[str, Any] | None:
    """Our part of the metadata file; None when there is no metadata file at all."""
    metadata_name = f"{name}.metadata"

    def unreadable(problem: str) -> UnreadableMetadata:
        return UnreadableMetadata(f"the metadata file {metadata_name} {problem}", problem)

    try:
        if not backend.exists(metadata_name):
            return None
        with backend.open(metadata_name, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise unreadable(f"cannot be read ({exc})") from exc
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise unreadable(f"is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise unreadable("is not a JSON object")
    value = data.get("django_cicd", {})
    if not isinstance(value, dict):
        raise unreadable("is not usable: its 'django_cicd' part is not a JSON object")
    return value


def verify_backup(info: BackupInfo) -> None:
    """Read the backup back from the storage and compare its sha256 and size; raise BackupError."""
    backend = storage()
    try:
        sha256, size = _sha256_of(backend, info.name)
    except storage_errors() as exc:
        raise BackupError(
            redact(f"the backup {info.name} cannot be read back from {info.storage}: {type(exc).__name__}: {exc}")
        ) from exc
    if sha256 != info.sha256 or size != info.size:
        raise BackupError(
            f"the backup {info.name} in {info.storage} does not match what was written "
            f"(sha256 {sha256[:12]}..., {size} bytes; expected {info.sha256[:12]}..., {info.size} bytes); "
            "the storage is corrupting files: do not migrate until it is fixed"
        )


def restore_backup(
    name: str,
    database: str,
    *,
    expected_sha256: str,
    compressed: bool | None = None,
    encrypted: bool | None = None,
    allow_other_database: bool = False,
) -> list[str]:
    """Restore backup ``name`` into ``database`` through django-dbbackup, after checking it; return
    notes for the report (what could not be checked, what was allowed).

    Refuses, before anything changes:

    - (:class:`BackupError`) when the file's sha256 is not ``expected_sha256``: a backup that changed
      since it was taken is not restored over a database;
    - (:class:`UnreadableMetadata`) when its ``.metadata`` file exists but cannot be read: what it
      records cannot be checked. A backup without a metadata file is restored, with a note;
    - (:class:`OtherDatabaseBackup`) when it was taken of another database than ``database`` (its
      recorded identity differs), unless ``allow_other_database`` (rollback_release's
      ``--restore-into-other-database``): a clone, or the same database moved to a new server.

    Compression and encryption are read from the name (``.gz``, ``.gpg``) unless given, because
    dbrestore does not infer them.
    """

    backend = storage()
    _prepare_dbbackup()
    with contextlib.ExitStack() as stack:
        source: dict[str, str] = {"input_filename": name}
        if _is_local(backend, name):
            try:
                sha256, _size = _sha256_of(backend, name)
            except storage_errors() as exc:
                raise BackupError(
                    f"the backup {name} cannot be read from {storage_description(backend)}: {exc}"
                ) from exc
            if sha256 != expected_sha256:
                raise _refusal(name, sha256, expected_sha256)
        else:
            # Object storage: read the backup once, streamed to a local file and checked on the way, and
            # restore that file; dbrestore would read the object into memory (see _chunks).
            source = {"input_path": stack.enter_context(_local_copy(backend, name, expected_sha256))}
        notes = _check_source(backend, name, database, allow_other_database=allow_other_database)
        _restore(name, database, source, compressed=compressed, encrypted=encrypted)
    events.emit("backup.restored", logging.WARNING, backup=name, sha256=expected_sha256, into=database)
    return notes


@contextlib.contextmanager
def _local_copy(backend: Storage, name: str, expected_sha256: str) -> Iterator[str]:
    """The path of a checked copy of ``name`` (and of its metadata file, which dbrestore reads next to
    it) in a directory of DBBACKUP_TMP_DIR readable by its owner only; removed afterwards."""
    import tempfile

    from dbbackup import settings as dbbackup_settings

    directory = tempfile.mkdtemp(prefix="django-cicd-restore-", dir=dbbackup_settings.TMP_DIR)  # mode 0700
    try:
        path = os.path.join(directory, os.path.basename(name))
        with open(path, "wb") as copy:
            _copy_checked(backend, name, expected_sha256, copy)
        metadata_name = f"{name}.metadata"
        try:
            if backend.exists(metadata_name):
                with open(f"{path}.metadata", "wb") as copy:
                    for chunk in _chunks(backend, metadata_name):
                        copy.write(chunk)
        except storage_errors() as exc:
            raise BackupError(f"the metadata file {metadata_name} cannot be read: {exc}") from exc
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _restore(
    name: str, database: str, source: Mapping[str, str], *, compressed: bool | None, encrypted: bool | None
) -> None:
    from django.core.management import call_command

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
                uncompress=compressed,
                decrypt=encrypted,
                interactive=False,
                verbosity=0,
                **source,
            )
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        cause = _original_error(exc)
        raise BackupError(
            redact(f"restoring {name} into database {database!r} failed: {type(cause).__name__}: {cause}")
        ) from exc
    finally:
        connections[database].close()


def _check_source(backend: Storage, name: str, database: str, *, allow_other_database: bool) -> list[str]:
    """Refuse a backup whose metadata cannot be read, or that was taken of another database (unless
    allowed); return what could not be checked."""
    try:
        metadata = _metadata(backend, name)
    except UnreadableMetadata as exc:
        raise UnreadableMetadata(
            f"refusing to restore {name}: its metadata file {exc.problem}, so the database and migration "
            "state it records cannot be checked; restore it by hand (manage.py dbrestore) if you know what "
            "it holds",
            exc.problem,
        ) from exc
    unchecked = f"so it could not be checked that it is a backup of database {database!r}"
    if metadata is None:
        return [f"the backup {name} has no metadata file (taken before django-cicd recorded one), {unchecked}"]
    recorded = metadata.get("identity")
    if not isinstance(recorded, dict) or not recorded:
        return [
            f"the backup {name} does not record which database it was taken of (taken before django-cicd "
            f"recorded it), {unchecked}"
        ]
    try:
        current = identity_of(database)
    except Exception as exc:
        raise BackupError(
            redact(
                f"refusing to restore {name} into database {database!r}: the identity of that database could "
                f"not be read to compare it with the backup's: {type(exc).__name__}: {exc}"
            )
        ) from exc
    if same_database(recorded, current):
        return []
    if not allow_other_database:
        raise OtherDatabaseBackup(
            f"refusing to restore {name} into database {database!r}: it is a backup of "
            f"{describe_identity(recorded)}, and {database!r} is {describe_identity(current)}; pass "
            f"{ALLOW_OTHER_DATABASE_OPTION} (allow_other_database=True) to restore it there anyway, e.g. to copy "
            "a database or to move it to a new server"
        )
    return [
        f"the backup {name} of {describe_identity(recorded)} was restored into database {database!r} "
        f"({describe_identity(current)}), as {ALLOW_OTHER_DATABASE_OPTION} allowed"
    ]
