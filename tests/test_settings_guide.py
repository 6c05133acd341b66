"""The complete settings module of docs/settings-guide.md works as written, on the Django this runs.

tox runs it on Django 5.2 (EMAIL_* settings) and 6.1 (MAILERS, which startproject writes and which
refuses the EMAIL_* settings beside it). The module is used alone and pasted at the end of a
project fresh from ``django-admin startproject``, in a subprocess with deprecation warnings as
errors; the mail connection it configures is opened and described.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import ROOT

pytestmark = pytest.mark.slow

GUIDE = ROOT / "docs" / "settings-guide.md"
#: The one line of the guide that is not Python as it stands: ``...`` for the project's own apps.
APPS_LINE = 'INSTALLED_APPS = [..., "dbbackup", "django_cicd"]'
APPS = '["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "dbbackup", "django_cicd"]'
PROBE = """
import json
import django
from django.core import mail

django.setup()
if django.VERSION >= (6, 1):
    connection = mail.mailers["default"]
else:
    connection = mail.get_connection()
print(json.dumps({
    "backend": f"{type(connection).__module__}.{type(connection).__name__}",
    **{name: getattr(connection, name, None) for name in ("host", "port", "username", "password", "use_tls")},
}))
"""
SMTP_URL = "smtp+tls://mailer:planted-mail-password@mail.example.com:587"
SMTP = {
    "backend": "django.core.mail.backends.smtp.EmailBackend",
    "host": "mail.example.com",
    "port": 587,
    "username": "mailer",
    "password": "planted-mail-password",
    "use_tls": True,
}


def guide_settings() -> str:
    text = GUIDE.read_text()
    found = re.search(r"^## A complete settings module\n.*?^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert found, "docs/settings-guide.md has no python block under '## A complete settings module'"
    module = found.group(1)
    assert APPS_LINE in module
    return module.replace(APPS_LINE, f"INSTALLED_APPS = {APPS}")


def project(directory: Path, settings: str) -> Path:
    package = directory / "myproject"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").touch()
    (package / "settings.py").write_text(settings)
    return directory


def mail_connection(directory: Path, **environ: str) -> dict[str, object]:
    cleared = {"DJANGO_SETTINGS_MODULE", "DJANGO_ENV", "EMAIL_URL", "DATABASE_URL", "SECRET_KEY", "SENTRY_DSN"}
    env = {
        **{k: v for k, v in os.environ.items() if k not in cleared},
        "PYTHONPATH": f"{directory}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "myproject.settings",
        **environ,
    }
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning", "-c", PROBE],
        capture_output=True, text=True, env=env, cwd=directory, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def startproject_settings(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("startproject")
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(directory)], check=True, timeout=120)
    return (directory / "mysite" / "settings.py").read_text()


def test_the_guide_module_sends_through_the_smtp_server_of_email_url(tmp_path):
    directory = project(tmp_path, guide_settings())
    assert mail_connection(directory, EMAIL_URL=SMTP_URL) == SMTP


def test_the_guide_module_prints_mail_by_default(tmp_path):
    directory = project(tmp_path, guide_settings())
    assert mail_connection(directory)["backend"] == "django.core.mail.backends.console.EmailBackend"


def test_the_guide_module_on_top_of_startproject_settings(tmp_path, startproject_settings):
    # Django 6.1's startproject writes MAILERS; the guide's module must not add EMAIL_* settings beside it.
    directory = project(tmp_path, startproject_settings + "\n" + guide_settings())
    assert mail_connection(directory, EMAIL_URL=SMTP_URL) == SMTP
    assert mail_connection(directory)["backend"] == "django.core.mail.backends.console.EmailBackend"
