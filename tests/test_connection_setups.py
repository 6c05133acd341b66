"""safe_migrate, safe_migrate --rehearse and rollback_release with the connection setups real projects
have: django.contrib.postgres installed, a connection_created receiver that runs a query on every new
connection, PostGIS's backend, Django's connection pool on PostgreSQL.

Each test runs the commands in subprocesses, as CI does, on a database of its own (so the ENGINE and
OPTIONS can be the project's): migrate the testproject, deploy r1, rehearse r2, deploy r2, roll back
to r1.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connections

from django_cicd import vendors
from tests.scenarios.migrate.helpers import database_url, run_manage
from tests.utils import need

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.slow]

SETTINGS = "tests.scenarios.setups.settings"


def _postgresql() -> bool:
    return connections["default"].vendor == "postgresql"


@contextlib.contextmanager
def project_database(extension: str | None = None) -> Iterator[str]:
    """A database of its own beside the test database; yields its DATABASE_URL; dropped afterwards."""
    adapter = vendors.adapter_for("default")
    connection = connections["default"]
    base = str(connection.settings_dict["NAME"])
    name = f"{base}.setup.sqlite3" if connection.vendor == "sqlite" else f"{base}_setup"
    adapter.drop_scratch("default", name)
    adapter.create_scratch("default", name, template=False)
    url = f"sqlite:///{name}" if connection.vendor == "sqlite" else f"{database_url().rsplit('/', 1)[0]}/{name}"
    try:
        if extension:
            side = vendors.side_connection("default", database_name=name)
            try:
                with side.cursor() as cursor:
                    cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
            finally:
                side.close()
        yield url
    finally:
        for leftover in adapter.list_scratch("default"):  # none, unless a rehearsal was killed
            if leftover.startswith(name):
                adapter.drop_scratch("default", leftover)
        adapter.drop_scratch("default", name)


def _run(url: str, setup: str, *args: str, catalog: str | None = None, **env: str) -> dict:
    full_env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": url, "CICD_TEST_SETUP": setup, **env}
    if catalog:
        full_env["CICD_TEST_CATALOG"] = catalog
    process = run_manage(*args, env=full_env)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, (args, process.returncode, stdout[-2000:], stderr[-2000:])
    return json.loads(stdout) if stdout.lstrip().startswith("{") else {}


def journey(url: str, setup: str, catalog: str, **env: str) -> dict[str, dict]:
    """migrate; deploy r1; rehearse r2 (``catalog``); deploy r2; roll back to r1. Each must exit 0."""
    json_ = ("--format", "json")
    _run(url, setup, "migrate", "--noinput", "--verbosity", "0", **env)
    documents = {"r1": _run(url, setup, "safe_migrate", "--release", "r1", *json_, **env)}
    documents["rehearsal"] = _run(url, setup, "safe_migrate", "--rehearse", *json_, catalog=catalog, **env)
    documents["r2"] = _run(url, setup, "safe_migrate", "--release", "r2", *json_, catalog=catalog, **env)
    documents["rollback"] = _run(
        url, setup, "rollback_release", "--noinput", "--accept-data-loss", *json_, catalog=catalog, **env
    )
    assert documents["rehearsal"]["ok"], documents["rehearsal"]["summary"]
    assert documents["rehearsal"]["target_connections"] == []
    assert [s["name"] for s in documents["rehearsal"]["phases"][0]["steps"]] == [
        s["name"] for s in documents["r2"]["plan"]
    ]
    assert documents["rollback"]["status"] == "rolled_back"
    assert documents["rollback"]["to_release"]["name"] == "r1"
    return documents


def test_contrib_postgres_is_installed_on_postgresql():
    """The whole suite runs with it on PostgreSQL (its connection_created receiver looks every new
    connection's alias up in ``connections``)."""
    assert ("django.contrib.postgres" in settings.INSTALLED_APPS) == _postgresql()


def test_with_contrib_postgres():
    if not _postgresql():
        pytest.skip("django.contrib.postgres is for PostgreSQL")
    with project_database() as url:
        journey(url, "", "catalog_next")


def test_with_a_receiver_that_queries_on_every_connection(tmp_path):
    log = tmp_path / "receiver.log"
    with project_database() as url:
        journey(url, "receiver", "catalog_next", CICD_TEST_RECEIVER_LOG=str(log))
    seen = set(log.read_text().split())
    assert "default" in seen
    if connections["default"].vendor != "sqlite":
        # The lock's and CREATE DATABASE's connections are made under NO_DB_ALIAS: the receiver ran on
        # them too, and they worked.
        assert "__no_db__" in seen


def _postgis_available() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        on_server = cursor.fetchone() is not None
    try:
        from django.contrib.gis.gdal import gdal_version
        from django.contrib.gis.geos import geos_version  # noqa: F401 (loads GEOS and GDAL)

        gdal_version()
    except Exception:  # noqa: BLE001 (ImproperlyConfigured, OSError: the libraries are missing)
        return False
    return on_server


def test_with_postgis():
    """PostGIS caches geometry type OIDs per alias: the rehearsal's copy is a restored backup (the test
    keeps a session on the database, so TEMPLATE cannot copy it), whose OIDs differ from the target's."""
    if not _postgresql():
        pytest.skip("PostGIS is a PostgreSQL extension")
    need(_postgis_available(), "PostGIS (postgresql-15-postgis-3) or GDAL/GEOS (gdal-bin) is not installed")
    with project_database(extension="postgis") as url:
        side = vendors.side_connection("default", database_name=url.rsplit("/", 1)[1])
        side.ensure_connection()
        try:
            documents = journey(url, "postgis,server_side_binding", "tests.scenarios.setups.catalog_gis")
        finally:
            side.close()
    assert documents["rehearsal"]["copy_method"].startswith("fresh backup ")
    assert [s["name"] for s in documents["r2"]["plan"]] == ["0006_product_location", "0007_place_products"]


def test_with_the_connection_pool():
    """Pooled sessions stay open after close(): the rehearsal closes the pool, so TEMPLATE can copy the
    database, and the repointed alias gets a pool on the copy (not the target's)."""
    if not _postgresql():
        pytest.skip("Django's connection pool is PostgreSQL's")
    need(importlib.util.find_spec("psycopg_pool") is not None, "psycopg[pool] is not installed")
    with project_database() as url:
        documents = journey(url, "pool", "catalog_next")
    assert documents["rehearsal"]["copy_method"] == "CREATE DATABASE ... TEMPLATE"


def test_with_postgis_the_pool_and_a_receiver_together(tmp_path):
    if not _postgresql():
        pytest.skip("PostGIS and the pool are PostgreSQL's")
    need(_postgis_available(), "PostGIS (postgresql-15-postgis-3) or GDAL/GEOS (gdal-bin) is not installed")
    need(importlib.util.find_spec("psycopg_pool") is not None, "psycopg[pool] is not installed")
    log = tmp_path / "receiver.log"
    with project_database(extension="postgis") as url:
        journey(url, "postgis,pool,receiver", "tests.scenarios.setups.catalog_gis", CICD_TEST_RECEIVER_LOG=str(log))
    assert {"default", "__no_db__"} <= set(log.read_text().split())
