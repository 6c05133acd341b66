"""tests.scenarios.migrate.settings with the setups named in CICD_TEST_SETUP (comma-separated):

- ``postgis``: ENGINE ``django.contrib.gis.db.backends.postgis``;
- ``pool``: ``OPTIONS["pool"] = True`` (Django's connection pool on PostgreSQL, psycopg[pool]);
- ``server_side_binding``: psycopg's server-side parameters (type OIDs are sent with each value);
- ``receiver``: the ``tenants`` app, whose connection_created receiver runs a query on every new
  connection, as multi-tenant apps do.

contrib.postgres is installed on PostgreSQL by the testproject's settings. CICD_TEST_CATALOG may name
a migration package by its full module path.
"""

import os

from tests.scenarios.migrate.settings import *  # noqa: F403
from tests.scenarios.migrate.settings import DATABASES, INSTALLED_APPS

SETUP = set(filter(None, os.environ.get("CICD_TEST_SETUP", "").split(",")))

_default = {**DATABASES["default"], "OPTIONS": dict(DATABASES["default"].get("OPTIONS") or {})}
if "postgis" in SETUP:
    _default["ENGINE"] = "django.contrib.gis.db.backends.postgis"
if "pool" in SETUP:
    _default["OPTIONS"]["pool"] = True
if "server_side_binding" in SETUP:
    _default["OPTIONS"]["server_side_binding"] = True
DATABASES = {**DATABASES, "default": _default}
if "receiver" in SETUP:
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.scenarios.setups.tenants"]
if "." in os.environ.get("CICD_TEST_CATALOG", ""):
    MIGRATION_MODULES = {"catalog": os.environ["CICD_TEST_CATALOG"]}
