from __future__ import annotations

from collections.abc import Iterator

from django_cicd import backups
from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.redaction import redact
from django_cicd.report import Finding, Severity


@register("cicd.backup.storage", title="The backup storage is configured and writable")
def backup_storage(ctx: CheckContext) -> Iterator[Finding]:
    """``STORAGES["dbbackup"]`` exists and a file can be written, read back and deleted there.

    safe_migrate takes its backup through django-dbbackup into this storage before it changes a
    database; finding out at deploy time that it is read-only is too late.
    """
    try:
        description = backups.check_storage_writable()
    except backups.BackupNotReady as exc:
        yield Finding(
            message=redact(str(exc)),
            code="cicd.backup.storage",
            hint="Configure STORAGES['dbbackup'] with a location the deploy user can write.",
        )
    else:
        yield Finding(message=f"backups go to {description}", severity=Severity.INFO, code="cicd.backup.storage")


@register("cicd.backup.client", title="The dump client exists and is not older than the server")
def backup_client(ctx: CheckContext) -> Iterator[Finding]:
    """For each target database, the dump program django-dbbackup will run (pg_dump, mysqldump) is on
    PATH, and its version is not older than the server's (pg_dump refuses to dump a newer server).
    SQLite is dumped in-process through the backup API and needs no client. Under ``--no-db`` the
    version comparison is skipped and only the client's presence is checked."""
    for alias in ctx.databases:
        try:
            client = backups.dump_client(alias)
        except backups.BackupNotReady as exc:
            yield Finding(message=str(exc), code="cicd.backup.client")
            continue
        if client.command is None:
            yield Finding(
                message=f"{alias}: {client.connector} dumps in-process; no client program needed",
                severity=Severity.INFO,
                code="cicd.backup.client",
            )
            continue
        if not ctx.use_database:
            yield Finding(
                message=f"{alias}: {client.command} found at {client.path} ({client.version_text}); "
                "server version not compared (--no-db)",
                severity=Severity.INFO,
                code="cicd.backup.client",
            )
            continue
        try:
            server = backups.server_version(alias)
        except Exception as exc:  # noqa: BLE001 (driver errors; reachability is reported by its own check)
            yield Finding(
                message=redact(f"{alias}: cannot read the server version to compare with {client.command}: {exc}"),
                severity=Severity.WARNING,
                code="cicd.backup.client",
            )
            continue
        if client.version is None or server is None:
            yield Finding(
                message=f"{alias}: cannot parse the version of {client.command} ({client.version_text!r})",
                severity=Severity.WARNING,
                code="cicd.backup.client",
            )
        elif client.version[: len(server)] < server:
            wanted = ".".join(map(str, server))
            yield Finding(
                message=(
                    f"{alias}: {client.command} is version {'.'.join(map(str, client.version))}, older than "
                    f"the server ({wanted}); the dump would fail or miss features"
                ),
                hint=f"Install client tools of version {wanted} or newer where safe_migrate runs.",
                code="cicd.backup.client",
            )
        else:
            yield Finding(
                message=f"{alias}: {client.command} {'.'.join(map(str, client.version))} "
                f"can dump server {'.'.join(map(str, server))}",
                severity=Severity.INFO,
                code="cicd.backup.client",
            )
