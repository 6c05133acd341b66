"""A person runs ``manage.py <anything>`` in an environment that breaks the settings' contract.

The settings raise ``ContractError`` while Django loads them, before any command runs. The person
sees the list of problems and exit 2 (could not run), not a traceback; ``manage.py env`` shows the
contract's table and exits 1, as docs/settings-guide.md shows. Proved with the ``manage.py`` of the
testproject and with the untouched ``manage.py`` of a project fresh from ``django-admin
startproject``, in subprocesses (the behaviour is the process's exit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import ROOT

pytestmark = pytest.mark.slow

PLANTED = "planted-db-password-5e4d3c2b1a"
#: The variables the testproject's contract reads, and what makes this process's settings tests.settings.
CLEARED = (
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ENV",
    "DJANGO_BUILD",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CACHE_URL",
    "SENTRY_DSN",
)
TESTPROJECT_PROBLEMS = [
    "The environment does not satisfy the settings contract for stage 'production': 3 problems.",
    "  - SECRET_KEY is missing (required in stage 'production') (Django's signing key: 50 or more random "
    "characters, different in every stage.)",
    "  - ALLOWED_HOSTS is missing (required in stage 'production') (Comma-separated host names the site answers to.)",
    "  - DATABASE_URL is invalid: is not a valid URL (The database, as a URL: "
    "postgres://USER:PASSWORD@HOST:5432/NAME, mysql://..., sqlite:///PATH.)",
    "Set each variable in the environment (or NAME_FILE to a file holding its value).",
]

STARTPROJECT_SETTINGS = """
# django-cicd, as the settings guide shows (a smaller contract).
from django_cicd import env

INSTALLED_APPS += ["dbbackup", "django_cicd"]
CONTRACT = env.Contract(
    env.Var("SECRET_KEY", secret=True, required=["production"], default="django-insecure-dev-only",
            help="Django's signing key."),
    env.Var("ALLOWED_HOSTS", list, required=["production"], default=["localhost"], help="Host names."),
)
E = CONTRACT.load()
SECRET_KEY = E.SECRET_KEY
ALLOWED_HOSTS = E.ALLOWED_HOSTS
"""
STARTPROJECT_PROBLEMS = [
    "The environment does not satisfy the settings contract for stage 'production': 2 problems.",
    "  - SECRET_KEY is missing (required in stage 'production') (Django's signing key.)",
    "  - ALLOWED_HOSTS is missing (required in stage 'production') (Host names.)",
    "Set each variable in the environment (or NAME_FILE to a file holding its value).",
]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**env, "PYTHONPATH": str(ROOT), **values}


def run(args: list[str], cwd: Path, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=clean_env(**values),
        cwd=cwd,
        timeout=120,
        check=False,
    )


def broken_production(**values: str) -> dict[str, str]:
    # A DATABASE_URL with a typo in the port and a password in it: invalid, and a secret.
    return {"DJANGO_ENV": "production", "DATABASE_URL": f"postgres://shop:{PLANTED}@db:54x2/shop", **values}


def could_not_run(header: str, problems: list[str]) -> str:
    return "\n".join([header, *problems]) + "\n"


@pytest.mark.parametrize("command", [["check"], ["migrate", "--noinput"], ["predeploy"], ["safe_migrate"]])
def test_testproject_command_lists_the_problems_and_exits_2(command):
    result = run(["manage.py", *command], ROOT, **broken_production())
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == could_not_run(
        f"manage.py {command[0]} could not run: the settings cannot be loaded in this environment "
        "(manage.py env lists every variable).",
        TESTPROJECT_PROBLEMS,
    )
    assert PLANTED not in result.stderr


def test_testproject_env_shows_the_table_and_exits_1():
    result = run(["manage.py", "env"], ROOT, **broken_production())
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "environment contract: 14 variables, stage production (DJANGO_ENV)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:16]}
    assert rows["SECRET_KEY"] == ["str", "secret", "missing", "-", "yes"]
    assert rows["DEBUG"] == ["bool", "default", "default", "no", "false"]
    assert rows["ALLOWED_HOSTS"] == ["list", "missing", "-", "yes"]
    assert rows["DATABASE_URL"] == ["db_url", "secret", "invalid", "environment", "yes"]
    assert lines[16] == "3 problems:"
    assert result.stderr == (
        "CommandError: 3 variables are missing or invalid for stage production; set them in the environment.\n"
    )
    assert PLANTED not in result.stdout + result.stderr


def test_testproject_env_options_work_in_a_broken_environment(tmp_path):
    as_json = run(["manage.py", "env", "--format", "json"], ROOT, **broken_production())
    assert as_json.returncode == 1, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["stage"] == "production"
    assert [p["name"] for p in document["problems"]] == ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"]
    assert PLANTED not in as_json.stdout
    example = run(["manage.py", "env", "--example"], ROOT, **broken_production())
    assert example.returncode == 0, example.stderr
    assert "\nDATABASE_URL=postgres://shop:change-me@db:5432/shop\n" in example.stdout
    staging = run(["manage.py", "env", "--stage", "development"], ROOT, **broken_production())
    assert staging.returncode == 1  # the DATABASE_URL set is invalid in every stage
    assert "1 problem:" in staging.stdout


def test_traceback_option_shows_the_traceback_and_still_exits_2():
    result = run(["manage.py", "check", "--traceback"], ROOT, **broken_production())
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "django_cicd.env.ContractError: The environment does not satisfy" in result.stderr
    assert PLANTED not in result.stderr


def test_settings_that_fail_otherwise_keep_djangos_traceback():
    # Only the contract's error is ours to present; any other error in the settings is a bug to see.
    result = run(["manage.py", "check"], ROOT, DJANGO_SETTINGS_MODULE="tests.broken_settings")
    assert result.returncode == 1
    assert "Traceback (most recent call last):" in result.stderr
    assert "ImproperlyConfigured: Set DATABASE_URL" in result.stderr


def test_module_entry_point_reports_the_contract_the_same_way():
    result = run(["-m", "django_cicd", "predeploy"], ROOT, DJANGO_SETTINGS_MODULE="testproject.settings",
                 **broken_production())  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == could_not_run(
        "django-cicd predeploy could not run: the settings cannot be loaded in this environment "
        "(django-cicd env lists every variable).",
        TESTPROJECT_PROBLEMS,
    )
    table = run(["-m", "django_cicd", "env"], ROOT, DJANGO_SETTINGS_MODULE="testproject.settings",
                **broken_production())  # fmt: skip
    assert table.returncode == 1, table.stderr
    assert "  ALLOWED_HOSTS " in table.stdout


@pytest.fixture(scope="module")
def startproject(tmp_path_factory):
    directory = tmp_path_factory.mktemp("startproject")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(directory)],
        check=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    settings = directory / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + STARTPROJECT_SETTINGS)
    return directory


def test_startproject_manage_py_is_django_s_own(startproject):
    # The proof below is about the manage.py startproject writes, untouched.
    text = (startproject / "manage.py").read_text()
    assert "execute_from_command_line(sys.argv)" in text
    assert "django_cicd" not in text


def test_startproject_works_in_a_good_environment(startproject):
    result = run(["manage.py", "env"], startproject)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "environment contract: 2 variables, stage development (DJANGO_ENV)"


@pytest.mark.parametrize("command", ["check", "migrate", "runserver", "predeploy"])
def test_startproject_command_lists_the_problems_and_exits_2(startproject, command):
    result = run(["manage.py", command], startproject, DJANGO_ENV="production")
    assert result.returncode == 2, result.stderr
    assert result.stderr == could_not_run(
        f"manage.py {command} could not run: the settings cannot be loaded in this environment "
        "(manage.py env lists every variable).",
        STARTPROJECT_PROBLEMS,
    )


def test_startproject_env_shows_the_table_and_exits_1(startproject):
    result = run(["manage.py", "env"], startproject, DJANGO_ENV="production")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[2].split() == ["SECRET_KEY", "str", "secret", "missing", "-", "yes"]
    assert result.stderr == (
        "CommandError: 2 variables are missing or invalid for stage production; set them in the environment.\n"
    )


def test_django_admin_reports_the_same(startproject):
    django_admin = Path(sys.executable).parent / "django-admin"
    result = subprocess.run(
        [str(django_admin), "check", "--settings", "mysite.settings", "--pythonpath", str(startproject)],
        capture_output=True, text=True, env=clean_env(DJANGO_ENV="production"), cwd=startproject, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == could_not_run(
        "django-admin check could not run: the settings cannot be loaded in this environment "
        "(django-admin env lists every variable).",
        STARTPROJECT_PROBLEMS,
    )
