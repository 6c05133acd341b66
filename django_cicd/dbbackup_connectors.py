"""django-dbbackup connectors that never put a database password on a client's command line.

They are subclasses of django-dbbackup's own connectors (same dump formats, same settings, same
``DBBACKUP_CONNECTORS`` options) that differ in two ways:

- the password reaches the client through its environment (PostgreSQL: ``PGPASSWORD``) or through an
  option file readable by its owner only and named first on the command line (MySQL/MariaDB:
  ``--defaults-extra-file``), never through argv, which every user of the machine can read in ``ps``
  and which dbbackup repeats in its "Error running: <command>" errors;
- the clients are started with :func:`django_cicd.children.popen` and waited for with
  :func:`django_cicd.children.wait`, so that a signal handler can end them and none outlives the command.

:func:`register` makes them django-dbbackup's connector for their engines. A connector the project
chose itself (``DBBACKUP_CONNECTORS[alias]["CONNECTOR"]`` or an entry of ``DBBACKUP_CONNECTOR_MAPPING``)
is left as it is: a project's own connector should derive from these classes to get the same safety.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sqlite3
import tempfile
from collections.abc import Iterator
from tempfile import SpooledTemporaryFile
from typing import Any

from dbbackup.db.mysql import MysqlDumpConnector as _MysqlDumpConnector
from dbbackup.db.postgresql import PgDumpBinaryConnector as _PgDumpBinaryConnector
from dbbackup.db.postgresql import PgDumpConnector as _PgDumpConnector
from dbbackup.db.postgresql import PgDumpGisConnector as _PgDumpGisConnector
from dbbackup.db.sqlite import SqliteBackupConnector as _SqliteBackupConnector
from django.core.files.base import File

from django_cicd import children
from django_cicd.redaction import redact, secret_values

_open_dumps: list[Any] = []


def close_dumps() -> None:
    """Close the dump files the connectors below handed to dbbackup (called once dbbackup is done)."""
    while _open_dumps:
        _open_dumps.pop().close()


class ClientCredentials:
    """What the connectors below share: the password kept out of argv, the clients tracked.

    Mixed in before a django-dbbackup command connector (``BaseCommandDBConnector``).
    """

    #: What the client being started does; set around :meth:`create_dump` and :meth:`restore_dump`.
    _kind: str = children.DUMP
    _extra_arguments: tuple[str, ...] = ()
    _credential_env: dict[str, str] = {}

    @property
    def settings(self) -> dict[str, Any]:
        """dbbackup's view of the database, without the password: its command builders then leave it
        out. ``None`` (never prompt) and ``""`` keep the meaning dbbackup gives them."""
        merged = dict(super().settings)  # type: ignore[misc]
        if merged.get("PASSWORD"):
            del merged["PASSWORD"]
        return merged

    @property
    def password(self) -> str:
        value = super().settings.get("PASSWORD")  # type: ignore[misc]
        return str(value) if value else ""

    def create_dump(self) -> Any:
        with self._client(children.DUMP):
            return super().create_dump()  # type: ignore[misc]

    def restore_dump(self, dump: Any) -> Any:
        with self._client(children.RESTORE):
            return super().restore_dump(dump)  # type: ignore[misc]

    @contextlib.contextmanager
    def _client(self, kind: str) -> Iterator[None]:
        self._kind = kind
        try:
            with self.credentials() as (arguments, env):
                self._extra_arguments, self._credential_env = tuple(arguments), dict(env)
                yield
        finally:
            self._kind, self._extra_arguments, self._credential_env = children.DUMP, (), {}

    def credentials(self) -> contextlib.AbstractContextManager[tuple[list[str], dict[str, str]]]:
        """The options to put right after the client's name, and the environment to add, that give
        the client its password; anything they need on disk exists only inside the ``with``."""
        raise NotImplementedError  # pragma: no cover (abstract)

    def _prefix(self) -> list[str]:
        prefix = self.restore_prefix if self._kind == children.RESTORE else self.dump_prefix  # type: ignore[attr-defined]
        return list(prefix) if isinstance(prefix, (list, tuple)) else shlex.split(prefix or "")

    def _redact(self, text: str) -> str:
        return redact(text, [*secret_values(), *([self.password] if self.password else [])])

    def run_command(self, command: str, stdin: Any = None, env: dict[str, str] | None = None) -> Any:
        """Run ``command`` as dbbackup's ``run_command`` does (split, no shell, output spooled), with the
        credentials added and the process tracked; the error names the command, which holds no password."""
        from dbbackup import settings as dbbackup_settings
        from dbbackup.db.exceptions import CommandConnectorError

        arguments = shlex.split(command)
        position = len(self._prefix()) + 1  # right after the client's name: MySQL reads option files only there
        arguments[position:position] = self._extra_arguments
        full_env = dict(os.environ) if self.use_parent_env else {}  # type: ignore[attr-defined]
        full_env.update(self.env)  # type: ignore[attr-defined]
        full_env.update(self._credential_env)
        full_env.update(env or {})  # e.g. PostGIS's ADMIN_PASSWORD for its own psql run
        # Not in a with: on success both are handed to dbbackup, which reads the dump from stdout.
        spool = functools.partial(
            SpooledTemporaryFile, max_size=dbbackup_settings.TMP_FILE_MAX_SIZE, dir=dbbackup_settings.TMP_DIR
        )
        stdout, stderr = spool(), spool()
        try:
            process = children.popen(
                arguments,
                kind=self._kind,
                stdin=stdin.open("rb") if isinstance(stdin, File) else stdin,
                stdout=stdout,
                stderr=stderr,
                env=full_env,
            )
        except OSError as exc:
            stdout.close()
            stderr.close()
            raise CommandConnectorError(self._redact(f"Error running: {command.strip()}\n{exc}")) from exc
        if children.wait(process):
            stderr.seek(0)
            text = stderr.read().decode("utf-8", errors="replace")
            stdout.close()
            stderr.close()
            raise CommandConnectorError(self._redact(f"Error running: {command.strip()}\n{text}"))
        stdout.seek(0)
        stderr.seek(0)
        _open_dumps.extend((stdout, stderr))  # dbbackup does not close them: close_dumps() does
        return stdout, stderr


class PostgreSQLCredentials(ClientCredentials):
    """libpq reads the password from ``PGPASSWORD`` (the environment of a process is readable by its
    owner only, unlike its command line)."""

    @contextlib.contextmanager
    def credentials(self) -> Iterator[tuple[list[str], dict[str, str]]]:
        yield [], ({"PGPASSWORD": self.password} if self.password else {})


def mysql_option_value(value: str) -> str:
    """``value`` as a double-quoted MySQL option-file value (the escapes MySQL and MariaDB read there)."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


class MySQLCredentials(ClientCredentials):
    """The MySQL and MariaDB clients read the password from an option file named by
    ``--defaults-extra-file``, which must be their first option; the file is created readable by its
    owner only and deleted when the client has exited. (As MySQL reads option files, a ``[client]``
    password in the deploy user's own ``~/.my.cnf`` is read after it and wins.)"""

    @contextlib.contextmanager
    def credentials(self) -> Iterator[tuple[list[str], dict[str, str]]]:
        if not self.password:
            yield [], {}
            return
        from dbbackup import settings as dbbackup_settings

        descriptor, path = tempfile.mkstemp(prefix="django-cicd-", suffix=".cnf", dir=dbbackup_settings.TMP_DIR)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
                handle.write(f"[client]\npassword={mysql_option_value(self.password)}\n")
            yield [f"--defaults-extra-file={path}"], {}
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


class PgDumpBinaryConnector(PostgreSQLCredentials, _PgDumpBinaryConnector):  # type: ignore[misc]  # dbbackup has no type hints
    """dbbackup's PostgreSQL default (``pg_dump --format=custom`` / ``pg_restore``), password kept out of argv."""


class PgDumpConnector(PostgreSQLCredentials, _PgDumpConnector):  # type: ignore[misc]  # dbbackup has no type hints
    """dbbackup's plain-SQL PostgreSQL connector (``pg_dump`` / ``psql``), password kept out of argv."""


class PgDumpGisConnector(PostgreSQLCredentials, _PgDumpGisConnector):  # type: ignore[misc]  # dbbackup has no type hints
    """dbbackup's PostGIS connector, password kept out of argv."""


class MysqlDumpConnector(MySQLCredentials, _MysqlDumpConnector):  # type: ignore[misc]  # dbbackup has no type hints
    """dbbackup's MySQL/MariaDB connector (``mysqldump`` / ``mysql``), password kept out of argv."""


class SqliteBackupConnector(_SqliteBackupConnector):  # type: ignore[misc]  # dbbackup has no type hints
    """dbbackup's SQLite connector (SQLite's backup API, safe with live connections), with the dump left on
    disk: dbbackup's own copies the finished backup into a SpooledTemporaryFile without a size limit, that
    is into memory, whatever the size of the database."""

    def create_dump(self) -> Any:
        from dbbackup import settings as dbbackup_settings

        self.connection.ensure_connection()
        descriptor, path = tempfile.mkstemp(prefix="django-cicd-", suffix=".sqlite3", dir=dbbackup_settings.TMP_DIR)
        os.close(descriptor)  # mkstemp: mode 0600
        try:
            with contextlib.closing(sqlite3.connect(path)) as target:
                self.connection.connection.backup(target)
            # Opened, then unlinked: the file is gone from the disk once it is closed. dbbackup does not
            # close it, and an error's traceback may keep it alive: close_dumps() closes it.
            dump = open(path, "rb")  # noqa: SIM115
            _open_dumps.append(dump)
            return dump
        finally:
            os.unlink(path)


#: dbbackup's own connector -> its django-cicd subclass.
REPLACEMENTS = {
    f"{stock.__module__}.{stock.__qualname__}": f"{__name__}.{ours.__qualname__}"
    for stock, ours in (
        (_PgDumpBinaryConnector, PgDumpBinaryConnector),
        (_PgDumpConnector, PgDumpConnector),
        (_PgDumpGisConnector, PgDumpGisConnector),
        (_MysqlDumpConnector, MysqlDumpConnector),
        (_SqliteBackupConnector, SqliteBackupConnector),
    )
}

_defaults: dict[str, str] = {}


def register() -> None:
    """Make the connectors above django-dbbackup's default for every engine that defaults to the
    dbbackup connector they derive from, except the engines the project mapped itself in
    ``DBBACKUP_CONNECTOR_MAPPING`` (read now, so that a changed setting is followed). Idempotent.

    ``DBBACKUP_CONNECTORS[alias]["CONNECTOR"]`` is read by dbbackup before this mapping and is never
    touched. Called by :mod:`django_cicd.backups` before it uses dbbackup, never at import: dbbackup
    reads Django's settings when it is imported.
    """
    from dbbackup.db import base
    from django.conf import settings

    if not _defaults:
        _defaults.update({engine: REPLACEMENTS.get(path, path) for engine, path in base.CONNECTOR_MAPPING.items()})
    chosen = getattr(settings, "DBBACKUP_CONNECTOR_MAPPING", None) or {}
    for engine in {*_defaults, *chosen}:
        path = chosen.get(engine) or _defaults.get(engine)
        if path:
            base.CONNECTOR_MAPPING[engine] = path
