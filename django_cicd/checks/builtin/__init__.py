"""The built-in predeploy checks; importing this package registers them, in the order they run."""

from django_cicd.checks.builtin import django_system  # noqa: F401  isort: skip
from django_cicd.checks.builtin import migrations  # noqa: F401  isort: skip
from django_cicd.checks.builtin import migrations_safety  # noqa: F401  isort: skip
from django_cicd.checks.builtin import databases  # noqa: F401  isort: skip
from django_cicd.checks.builtin import caches  # noqa: F401  isort: skip
from django_cicd.checks.builtin import backups  # noqa: F401  isort: skip
from django_cicd.checks.builtin import staticfiles  # noqa: F401  isort: skip
from django_cicd.checks.builtin import env  # noqa: F401  isort: skip
from django_cicd.checks.builtin import sentry  # noqa: F401  isort: skip
from django_cicd.checks.builtin import waivers  # noqa: F401  isort: skip
