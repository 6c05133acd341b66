"""tests.scenarios.migrate.settings plus the aliases named in CICD_TEST_ALIASES (comma-separated):

- ``twin``: the same database as ``default`` (a second alias a router sends writes to);
- ``replica``: ``TEST["MIRROR"] = "default"``, NAME from CICD_TEST_REPLICA_NAME (another database);
- ``elsewhere``: ``default`` with an empty PORT: the same server and database, spelled differently.

With ``twin``, DATABASE_ROUTERS sends writes of catalog models to ``twin`` and reads to ``replica``.
"""

import copy
import os

from tests.scenarios.migrate.settings import *  # noqa: F403
from tests.scenarios.migrate.settings import DATABASES

_ALIASES = set(filter(None, os.environ.get("CICD_TEST_ALIASES", "").split(",")))
_DEFAULT = DATABASES["default"]

if "twin" in _ALIASES:
    DATABASES["twin"] = copy.deepcopy(_DEFAULT)
    DATABASE_ROUTERS = ["tests.scenarios.aliases.routers.ToTwinAndReplica"]
if "replica" in _ALIASES:
    DATABASES["replica"] = {
        **copy.deepcopy(_DEFAULT),
        "NAME": os.environ["CICD_TEST_REPLICA_NAME"],
        "TEST": {"MIRROR": "default"},
    }
if "elsewhere" in _ALIASES:
    DATABASES["elsewhere"] = {**copy.deepcopy(_DEFAULT), "PORT": ""}
