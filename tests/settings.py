"""Settings for the test suite: the testproject's, plus a second database alias and test isolation.

DATABASE_URL selects the vendor (tox factors sqlite, postgres, mariadb). The second alias "other"
lives on the same server so that multi-database behaviour is tested on every vendor.
"""

import copy
import os
import tempfile

from testproject.settings import *  # noqa: F403
from testproject.settings import DATABASES, STORAGES

DEBUG = False
SECRET_KEY = "tests-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL"

# Test databases are files for SQLite (not :memory:) so that subprocesses started by the tests
# (manage.py runs, concurrent migrators) see the same database as the test itself.
_inherited_dir = os.environ.get("DJANGO_CICD_TEST_DIR")
_run_dir = _inherited_dir or tempfile.mkdtemp(prefix="django-cicd-tests-")
os.environ["DJANGO_CICD_TEST_DIR"] = _run_dir  # subprocesses inherit it and find the same files
# The directory this process made, removed when its pytest session ends (tests/conftest.py); None in a
# subprocess that inherited it.
TEST_DIR_MADE_HERE = None if _inherited_dir else _run_dir
_default = copy.deepcopy(DATABASES["default"])
_other = copy.deepcopy(DATABASES["default"])
if _default["ENGINE"].endswith("sqlite3"):
    _default["TEST"] = {"NAME": os.path.join(_run_dir, "test-default.sqlite3")}
    _other["NAME"] = os.path.join(_run_dir, "other.sqlite3")
    _other["TEST"] = {"NAME": os.path.join(_run_dir, "test-other.sqlite3")}
else:
    _other["NAME"] = f"{_other['NAME']}_other"
DATABASES = {"default": _default, "other": _other}

# Tests render pages without running collectstatic first.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.path.join(_run_dir, "backups")},
    },
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
