"""Each built-in predeploy check: a case it must flag and one it must pass, on the real databases."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import CheckMessage
from django.core.checks.registry import registry as django_registry
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from django_cicd.checks import run_checks
from django_cicd.report import Severity, Status
from tests.utils import need

pytestmark = pytest.mark.django_db(databases="__all__")

PROJECT_CHECKS = {"CHECKS": ["tests.project_checks"]}


def result(report, check_id):
    [found] = [r for r in report.results if r.id == check_id]
    return found


def codes(check_result):
    return [f.code for f in check_result.findings]


# --- Django's system checks -------------------------------------------------------------------


def test_deploy_checks_keep_django_ids_and_fail_at_warning(settings):
    settings.DEBUG = True
    report = run_checks(only=["cicd.django.checks"])
    django_result = result(report, "cicd.django.checks")
    assert django_result.status == Status.FAILED
    w018 = [f for f in django_result.findings if f.code == "security.W018"]
    assert len(w018) == 1
    assert w018[0].severity == Severity.WARNING
    assert w018[0].blocking
    assert report.exit_code == 1


def test_django_default_fail_level_error_lets_debug_pass(settings):
    settings.DEBUG = True
    report = run_checks(only=["cicd.django.checks"], fail_level="error")
    assert result(report, "cicd.django.checks").status == Status.PASSED
    assert "security.W018" in codes(result(report, "cicd.django.checks"))


def test_production_like_settings_pass(settings):
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    report = run_checks(only=["cicd.django.checks"])
    assert result(report, "cicd.django.checks").findings == []
    assert report.exit_code == 0


# --- migrations ------------------------------------------------------------------------------


def test_custom_check_levels_map_to_the_nearest_standard_one():
    def custom(app_configs=None, **kwargs):
        return [CheckMessage(35, "between warning and error", id="thirdparty.X001")]

    django_registry.register(custom)
    try:
        report = run_checks(only=["cicd.django.checks"], use_database=False)
    finally:
        django_registry.registered_checks.discard(custom)
    [finding] = [f for f in result(report, "cicd.django.checks").findings if f.code == "thirdparty.X001"]
    assert finding.severity == Severity.WARNING


def test_missing_migration_is_flagged_without_a_database():
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.predeploy.catalog_missing"}):
        report = run_checks(only=["cicd.migrations.missing"], use_database=False)
    missing = result(report, "cicd.migrations.missing")
    assert missing.status == Status.FAILED
    [finding] = missing.findings
    assert finding.message == "catalog: 1 model change(s) have no migration: Remove field legacy_code from product"
    assert finding.hint == "Run `python manage.py makemigrations catalog` and commit the new migration."
    assert finding.location.path.endswith("testproject/catalog/models.py")


def test_no_missing_migration_in_testproject():
    report = run_checks(only=["cicd.migrations.missing"], use_database=False)
    assert result(report, "cicd.migrations.missing").findings == []


def test_conflicting_leaves():
    with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.predeploy.catalog_conflict"}):
        report = run_checks(only=["cicd.migrations.conflicts"], use_database=False)
    [finding] = result(report, "cicd.migrations.conflicts").findings
    assert finding.message == "catalog has 2 leaf migrations: 0005_product_sku, 0005_remove_product_legacy_code"
    assert "makemigrations --merge catalog" in finding.hint
    assert finding.location.path.endswith("catalog_conflict/0005_remove_product_legacy_code.py")
    assert finding.location.line == 1


def test_unapplied_is_information_before_a_deploy_and_an_error_after():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_unapplied("orders", "0002_order_note")
    try:
        before = run_checks(only=["cicd.migrations.unapplied"], databases=["default"])
        after = run_checks(only=["cicd.migrations.unapplied"], databases=["default"], options={"expect_migrated": True})
    finally:
        recorder.record_applied("orders", "0002_order_note")
    [info] = result(before, "cicd.migrations.unapplied").findings
    assert info.message == "default: 1 unapplied migration(s): orders.0002_order_note"
    assert info.severity == Severity.INFO and not info.blocking
    assert before.exit_code == 0
    [error] = result(after, "cicd.migrations.unapplied").findings
    assert error.blocking and after.exit_code == 1


def test_migrated_database_has_nothing_unapplied():
    report = run_checks(only=["cicd.migrations.unapplied"])
    assert result(report, "cicd.migrations.unapplied").findings == []


def test_code_older_than_the_database():
    recorder = MigrationRecorder(connections["other"])
    recorder.record_applied("catalog", "0099_from_the_future")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default", "other"])
    finally:
        recorder.record_unapplied("catalog", "0099_from_the_future")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.message == (
        "other: 1 migration(s) are applied in the database but absent from this code: "
        "catalog.0099_from_the_future. The code is older than the database."
    )
    assert "rollback_release" in finding.hint


def test_inconsistent_history_is_reported():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_unapplied("catalog", "0001_initial")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default"])
    finally:
        recorder.record_applied("catalog", "0001_initial")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.code == "cicd.migrations.inconsistent"
    assert finding.message.startswith("default: Migration catalog.0002_product_slug is applied before its dependency")
    assert finding.blocking


def test_rows_left_by_a_finished_squash_are_stale_not_from_the_future():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_applied("catalog", "0002_old_name_of_slug")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default"])
    finally:
        recorder.record_unapplied("catalog", "0002_old_name_of_slug")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.code == "cicd.migrations.stale"
    assert finding.severity == Severity.WARNING
    assert "catalog.0002_old_name_of_slug" in finding.message


@override_settings(DATABASE_ROUTERS=["tests.routers.NothingOnOther"])
def test_aliases_the_routers_never_migrate_are_not_called_unapplied():
    report = run_checks(only=["cicd.migrations.unapplied"], options={"expect_migrated": True})
    [note] = result(report, "cicd.migrations.unapplied").findings
    assert note.message == "other: the database routers allow no model to migrate here; not checked"
    assert report.exit_code == 0


def test_migrations_of_an_uninstalled_app_are_a_warning():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_applied("oldapp", "0001_initial")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default"])
    finally:
        recorder.record_unapplied("oldapp", "0001_initial")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.code == "cicd.migrations.uninstalled"
    assert finding.severity == Severity.WARNING


def test_no_db_skips_database_checks_never_passes_them():
    report = run_checks(use_database=False)
    for check_id in ("cicd.migrations.unapplied", "cicd.migrations.unknown", "cicd.database.reachable"):
        skipped = result(report, check_id)
        assert skipped.status == Status.SKIPPED
        assert skipped.skipped_reason == "--no-db: this check needs a database"


# --- databases and caches ----------------------------------------------------------------------


def test_every_alias_reports_its_server_version():
    report = run_checks(only=["cicd.database.reachable"])
    findings = result(report, "cicd.database.reachable").findings
    assert [f.extra["database"] for f in findings] == ["default", "other"]
    vendor = connections["default"].vendor
    prefix = {"postgresql": "PostgreSQL ", "mysql": "MariaDB ", "sqlite": "SQLite "}[vendor]
    assert all(f.extra["version"].startswith(prefix) for f in findings)


@pytest.fixture
def broken_other_database():
    """Point the 'other' alias at a server/file that does not exist (a real failed connection)."""
    connection = connections["other"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/dir/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"
        connection.settings_dict["PASSWORD"] = "planted-db-password-1234"
    yield connection
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


def test_unreachable_database_fails_and_names_the_alias(broken_other_database):
    report = run_checks(only=["cicd.database.reachable"])
    reachable = result(report, "cicd.database.reachable")
    assert reachable.status == Status.FAILED
    [failure] = [f for f in reachable.findings if f.code == "cicd.database.unreachable"]
    assert failure.message.startswith(f"other: cannot connect to {broken_other_database.vendor} at ")
    assert "planted-db-password-1234" not in failure.message
    assert failure.hint == "Check DATABASES['other'] (or DATABASE_URL) and that the server accepts connections."


def test_database_option_limits_the_aliases():
    report = run_checks(only=["cicd.database.reachable"], databases=["other"])
    assert [f.extra["database"] for f in result(report, "cicd.database.reachable").findings] == ["other"]


def test_unknown_alias_is_a_key_error():
    with pytest.raises(KeyError):
        run_checks(databases=["nope"])


@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/9"}
    }
)
def test_real_redis_cache_answers():
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=5).close()
        answers = True
    except OSError:
        answers = False
    need(answers, "Redis does not answer on 127.0.0.1:6379; start it with: bash .ci/services.sh")
    report = run_checks(only=["cicd.cache.reachable"])
    assert result(report, "cicd.cache.reachable").findings == []


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://:planted-cache-pw@127.0.0.1:1/0",
        }
    }
)
def test_unreachable_cache_fails_without_leaking_its_password():
    report = run_checks(only=["cicd.cache.reachable"])
    [finding] = result(report, "cicd.cache.reachable").findings
    assert finding.code == "cicd.cache.unreachable"
    assert finding.message.startswith("cache 'default' (django.core.cache.backends.redis.RedisCache) did not answer")
    assert "planted-cache-pw" not in finding.message


class ForgetfulCache(LocMemCache):
    """A cache that accepts writes and loses them, as a full memcached or a Redis with an eviction
    policy does under pressure. A real cache cannot be made to drop one key on cue: this stand-in
    only changes what ``get`` returns."""

    def get(self, key, default=None, version=None):
        return default


@override_settings(
    CACHES={"default": {"BACKEND": "tests.test_predeploy_checks.ForgetfulCache", "LOCATION": "forgetful"}}
)
def test_cache_that_drops_writes_fails():
    report = run_checks(only=["cicd.cache.reachable"])
    [finding] = result(report, "cicd.cache.reachable").findings
    assert finding.code == "cicd.cache.unreadable"
    assert finding.message == (
        "cache 'default' (tests.test_predeploy_checks.ForgetfulCache) accepted a write but returned None on read"
    )
    assert report.exit_code == 1


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}})
def test_dummy_cache_is_noted():
    report = run_checks(only=["cicd.cache.reachable"])
    [finding] = result(report, "cicd.cache.reachable").findings
    assert (finding.code, finding.severity) == ("cicd.cache.dummy", Severity.INFO)


# --- backups ---------------------------------------------------------------------------------


def test_backup_storage_writable(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "dbbackup": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    report = run_checks(only=["cicd.backup.storage"])
    [finding] = result(report, "cicd.backup.storage").findings
    assert finding.severity == Severity.INFO
    assert finding.message == f"backups go to django.core.files.storage.filesystem.FileSystemStorage at {tmp_path}"
    assert list(tmp_path.iterdir()) == []  # the probe file was removed


def test_backup_storage_not_writable(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.STORAGES = {
        **settings.STORAGES,
        "dbbackup": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "sub")},
        },
    }
    report = run_checks(only=["cicd.backup.storage"])
    [finding] = result(report, "cicd.backup.storage").findings
    assert finding.blocking
    assert finding.message.startswith(
        f"the backup storage (django.core.files.storage.filesystem.FileSystemStorage at {blocker / 'sub'}) "
        "is not writable: "
    )


def test_backup_storage_missing(settings):
    settings.STORAGES = {k: v for k, v in settings.STORAGES.items() if k != "dbbackup"}
    report = run_checks(only=["cicd.backup.storage"])
    [finding] = result(report, "cicd.backup.storage").findings
    assert finding.blocking
    assert finding.message.startswith("STORAGES['dbbackup'] is not configured")


def _fake_client(directory, name, version_line):
    """A real executable on PATH that prints a version, standing in for an older client install."""
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_dump_client_matches_the_server():
    report = run_checks(only=["cicd.backup.client"], databases=["default"])
    [finding] = result(report, "cicd.backup.client").findings
    assert not finding.blocking
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        assert (
            finding.message == "default: django_cicd.dbbackup_connectors.SqliteBackupConnector dumps in-process; "
            "no client program needed"
        )
    else:
        client = {"postgresql": "pg_dump", "mysql": "mysqldump"}[vendor]
        assert finding.message.startswith(f"default: {client} ")
        assert " can dump server " in finding.message


def test_dump_client_older_than_the_server(tmp_path, monkeypatch):
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        pytest.skip("SQLite is dumped in-process: there is no client version to compare")
    if vendor == "postgresql":
        _fake_client(tmp_path, "pg_dump", "pg_dump (PostgreSQL) 9.6.24")
    else:
        _fake_client(tmp_path, "mysqldump", "mysqldump  Ver 10.19 Distrib 10.3.39-MariaDB, for debian-linux-gnu")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    report = run_checks(only=["cicd.backup.client"], databases=["default"])
    [finding] = result(report, "cicd.backup.client").findings
    assert finding.blocking
    assert "older than the server" in finding.message


def test_dump_client_version_that_cannot_be_parsed_is_a_warning(tmp_path, monkeypatch):
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        pytest.skip("SQLite is dumped in-process: there is no client version to parse")
    client = {"postgresql": "pg_dump", "mysql": "mysqldump"}[vendor]
    _fake_client(tmp_path, client, f"{client} (a development build)")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    report = run_checks(only=["cicd.backup.client"], databases=["default"])
    [finding] = result(report, "cicd.backup.client").findings
    assert finding.severity == Severity.WARNING
    assert finding.message == f"default: cannot parse the version of {client} ('{client} (a development build)')"
    assert report.exit_code == 1  # a warning fails at the default fail level


# transaction=True: inside a test transaction Django keeps the connection open through close().
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_dump_client_when_the_server_version_cannot_be_read(broken_other_database):
    vendor = broken_other_database.vendor
    if vendor == "sqlite":
        pytest.skip("SQLite is dumped in-process: there is no server version to compare")
    client = {"postgresql": "pg_dump", "mysql": "mysqldump"}[vendor]
    report = run_checks(only=["cicd.backup.client"], databases=["other"])
    [finding] = result(report, "cicd.backup.client").findings
    assert finding.severity == Severity.WARNING
    assert finding.message.startswith(f"other: cannot read the server version to compare with {client}: ")
    assert "planted-db-password-1234" not in finding.message


def test_dump_client_missing(tmp_path, monkeypatch):
    if connections["default"].vendor == "sqlite":
        pytest.skip("SQLite is dumped in-process: no client program to miss")
    monkeypatch.setenv("PATH", str(tmp_path))
    report = run_checks(only=["cicd.backup.client"], databases=["default"])
    [finding] = result(report, "cicd.backup.client").findings
    assert finding.blocking
    assert "which is not on PATH" in finding.message


def test_dump_client_without_database_only_checks_presence(tmp_path, monkeypatch):
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        pytest.skip("SQLite is dumped in-process: no client program to look for")
    client = {"postgresql": "pg_dump", "mysql": "mysqldump"}[vendor]
    # An old client passes under --no-db: the server version is not known, so only presence counts.
    _fake_client(
        tmp_path,
        client,
        "pg_dump (PostgreSQL) 9.6.24" if client == "pg_dump" else "mysqldump  Ver 10.19 Distrib 10.3.39-MariaDB",
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    report = run_checks(only=["cicd.backup.client"], databases=["default"], use_database=False)
    [finding] = result(report, "cicd.backup.client").findings
    assert not finding.blocking
    assert finding.message.startswith(f"default: {client} found at {tmp_path / client} (")
    assert finding.message.endswith("server version not compared (--no-db)")


# --- static files ----------------------------------------------------------------------------

MANIFEST = {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}


def test_collectstatic_with_manifest_passes(settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST}
    report = run_checks(only=["cicd.static.collect"])
    [finding] = result(report, "cicd.static.collect").findings
    assert finding.severity == Severity.INFO
    assert "post-processed" in finding.message


def test_missing_reference_fails_where_dry_run_passes(settings, tmp_path):
    css = tmp_path / "css"
    css.mkdir()
    (css / "broken.css").write_text('body { background: url("../img/missing.png"); }\n')
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST}
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, str(tmp_path)]
    report = run_checks(only=["cicd.static.collect"])
    [finding] = result(report, "cicd.static.collect").findings
    assert finding.blocking
    assert "img/missing.png" in finding.message
    assert finding.location.path == str(css / "broken.css")
    # Django's own dry run does not see it: the reason this check exists.
    from io import StringIO

    from django.core.management import call_command

    call_command("collectstatic", dry_run=True, interactive=False, stdout=StringIO())


def test_static_check_skipped_for_remote_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    report = run_checks(only=["cicd.static.collect"])
    skipped = result(report, "cicd.static.collect")
    assert skipped.status == Status.SKIPPED
    assert "is not a FileSystemStorage" in skipped.skipped_reason


def test_static_check_can_be_turned_off(settings):
    settings.CICD = {"STATIC_CHECK": False}
    report = run_checks(only=["cicd.static.collect"])
    assert result(report, "cicd.static.collect").skipped_reason == "CICD['STATIC_CHECK'] is False"


# --- waivers ---------------------------------------------------------------------------------


def test_waiver_waives_a_finding_with_its_reason(settings):
    settings.DEBUG = True
    settings.CICD = {
        "WAIVERS": [
            {"id": "security.W018", "reason": "staging runs with DEBUG for the QA team", "expires": "2099-01-01"}
        ]
    }
    report = run_checks(only=["cicd.django.checks", "cicd.waivers"])
    [w018] = [f for f in result(report, "cicd.django.checks").findings if f.code == "security.W018"]
    assert w018.waiver is not None and w018.waiver.reason == "staging runs with DEBUG for the QA team"
    assert not w018.blocking


def test_waiver_limited_to_environments(settings):
    settings.DEBUG = True
    settings.CICD = {"WAIVERS": [{"id": "security.W018", "reason": "QA", "environments": ["staging"]}]}
    staging = run_checks(only=["cicd.django.checks"], environment="staging")
    production = run_checks(only=["cicd.django.checks"], environment="production")
    assert [f.code for f in result(staging, "cicd.django.checks").findings if f.waiver] == ["security.W018"]
    assert not [f for f in result(production, "cicd.django.checks").findings if f.waiver]


def test_expired_waiver_fails_the_run_and_no_longer_waives(settings):
    settings.DEBUG = True
    settings.CICD = {"WAIVERS": [{"id": "security.W018", "reason": "until the fix", "expires": "2026-01-31"}]}
    report = run_checks(only=["cicd.django.checks", "cicd.waivers"], today=dt.date(2026, 2, 1))
    waivers = result(report, "cicd.waivers")
    assert waivers.status == Status.FAILED
    [expired] = waivers.findings
    assert expired.message == "waiver 'security.W018' expired on 2026-01-31: until the fix"
    assert not [f for f in result(report, "cicd.django.checks").findings if f.waiver]


def test_unused_waiver_is_information(settings):
    settings.CICD = {"WAIVERS": [{"id": "security.W999", "reason": "old"}]}
    report = run_checks(only=["cicd.waivers"])
    [unused] = result(report, "cicd.waivers").findings
    assert (unused.code, unused.severity) == ("cicd.waivers.unused", Severity.INFO)
    assert report.exit_code == 0


def test_invalid_waiver_is_reported_by_the_check(settings):
    settings.CICD = {"WAIVERS": [{"id": "x"}]}
    report = run_checks(only=["cicd.waivers"])
    [invalid] = result(report, "cicd.waivers").findings
    assert invalid.code == "cicd.waivers.invalid"
    assert invalid.blocking


def test_expired_waiver_fails_even_when_the_waivers_check_is_not_selected(settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "x", "reason": "r", "expires": "2026-01-01"}]}
    for selection in ({"only": ["tests.project.echo"]}, {"skip": ["cicd.waivers"], "only": ["tests.project"]}):
        report = run_checks(**selection, today=dt.date(2026, 6, 1))
        assert report.exit_code == 1
        assert result(report, "cicd.waivers").findings[0].code == "cicd.waivers.expired"


def test_a_waiver_cannot_waive_the_waivers_check(settings):
    settings.CICD = {
        "WAIVERS": [{"id": "cicd.waivers", "reason": "shh"}, {"id": "x", "reason": "r", "expires": "2026-01-01"}]
    }
    report = run_checks(only=["cicd.waivers"], today=dt.date(2026, 6, 1))
    assert report.exit_code == 1
    assert all(f.waiver is None for f in result(report, "cicd.waivers").findings)


def test_current_waivers_add_nothing_when_the_check_is_not_selected(settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "x", "reason": "r", "expires": "2099-01-01"}]}
    report = run_checks(only=["tests.project.echo"])
    assert [r.id for r in report.results] == ["tests.project.echo"]


def test_no_db_runs_model_checks_without_connecting_and_notes_checks_that_connect(broken_other_database):
    """A third-party system check that queries a database anyway is noted, not crashed on, under --no-db."""

    def queries_the_database(app_configs=None, **kwargs):
        with connections["other"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return []

    django_registry.register(queries_the_database)
    try:
        report = run_checks(only=["cicd.django.checks"], use_database=False)
        with_database = run_checks(only=["cicd.django.checks"], databases=["other"])
    finally:
        django_registry.registered_checks.discard(queries_the_database)
    [note] = [f for f in result(report, "cicd.django.checks").findings if f.code == "cicd.django.needs_database"]
    assert note.severity == Severity.INFO
    assert note.message.startswith(
        "tests.test_predeploy_checks.test_no_db_runs_model_checks_without_connecting_and_notes_checks_that_connect."
        "<locals>.queries_the_database needs a database connection and was not run under --no-db: "
    )
    # With a database the failure is not hidden: the check errors and the run fails.
    assert result(with_database, "cicd.django.checks").status == Status.ERROR
    assert with_database.exit_code == 1
