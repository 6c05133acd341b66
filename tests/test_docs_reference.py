"""The reference pages and the code say the same thing: settings, system check ids, check ids, JSON schema."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from django_cicd.conf import DEFAULTS
from django_cicd.migrations_safety.rules import RULES
from django_cicd.report import JSON_SCHEMA_VERSION
from tests.utils import ROOT, run_command

DOCS = ROOT / "docs"
SETTINGS_PAGE = DOCS / "reference" / "settings.md"
PREDEPLOY_PAGE = DOCS / "predeploy.md"
SCHEMA_FILE = DOCS / "reference" / "predeploy-report.v2.schema.json"
SYSTEM_CHECK_ID = re.compile(r"""id=["'](django_cicd\.[EWCI]\d{3})["']""")


def _section(text: str, heading: str) -> str:
    """The text from ``heading`` (a whole line) to the next heading of the same level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(rf"^{level} ", text[start:], re.M)
    return text[start : start + following.start()] if following else text[start:]


def _first_cells(section: str) -> set[str]:
    """The backticked first cell of every table row in ``section``."""
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def _system_check_ids_in_code() -> set[str]:
    ids: set[str] = set()
    for path in (ROOT / "django_cicd").rglob("*.py"):
        ids.update(SYSTEM_CHECK_ID.findall(path.read_text(encoding="utf-8")))
    return ids


def test_every_cicd_setting_is_documented_and_nothing_else():
    documented = _first_cells(_section(SETTINGS_PAGE.read_text(), "## `CICD` keys"))
    assert documented == set(DEFAULTS), (
        f"missing from docs/reference/settings.md: {sorted(set(DEFAULTS) - documented)}; "
        f"documented but not in django_cicd.conf.DEFAULTS: {sorted(documented - set(DEFAULTS))}"
    )


def test_every_system_check_id_is_documented_and_nothing_else():
    in_code = _system_check_ids_in_code()
    assert len(in_code) >= 20  # the pattern still finds the ids
    documented = _first_cells(_section(SETTINGS_PAGE.read_text(), "## System checks"))
    assert documented == in_code, (
        f"missing from docs/reference/settings.md: {sorted(in_code - documented)}; "
        f"documented but raised nowhere: {sorted(documented - in_code)}"
    )


def test_system_checks_module_docstring_lists_every_id():
    from django_cicd import system_checks

    listed = set(re.findall(r"^(django_cicd\.[EWCI]\d{3}) ", system_checks.__doc__ or "", re.M))
    assert listed == _system_check_ids_in_code()


def test_every_builtin_check_has_a_section_in_predeploy_page():
    from django_cicd.checks import registry

    builtin = {check.id for check in registry if check.function.__module__.startswith("django_cicd.")}
    assert "cicd.django.checks" in builtin
    text = PREDEPLOY_PAGE.read_text()
    sections = set(re.findall(r"^### `([^`]+)`$", text, re.M))
    table = _first_cells(_section(text, "## Built-in checks").split("\n### ")[0])
    assert sections == builtin, f"sections: {sorted(sections ^ builtin)}"
    assert table == builtin, f"table: {sorted(table ^ builtin)}"


def test_every_migration_safety_rule_is_named_in_predeploy_page():
    text = PREDEPLOY_PAGE.read_text()
    missing = sorted(rule_id for rule_id in RULES if f"`{rule_id}`" not in text)
    assert not missing


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["version"]["const"] == JSON_SCHEMA_VERSION
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _assert_valid(document: dict) -> None:
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.mark.django_db(databases="__all__")
def test_full_json_report_validates_against_the_schema(tmp_path):
    target = tmp_path / "report.json"
    _, stderr, code = run_command("predeploy", "--format", "json", "--output", str(target))
    assert code in (0, 1), stderr
    document = json.loads(target.read_text())
    assert {check["id"] for check in document["checks"]} >= {"cicd.django.checks", "cicd.database.reachable"}
    _assert_valid(document)


@pytest.mark.django_db(databases="__all__")
def test_json_report_with_every_kind_of_field_validates(settings):
    """Locations, waivers with dates and stages, a crashed check, a skipped one, extra data."""
    settings.CICD = {
        "CHECKS": ["tests.project_checks"],
        "WAIVERS": [
            {
                "id": "tests.project.echo",
                "reason": "tracked in TICKET-9",
                "expires": "2999-12-31",
                "environments": ["production"],
            },
            {"id": "nothing.matches", "reason": "unused on purpose"},
        ],
    }
    settings.TEST_CHECK_FINDINGS = [
        ("stale index", "ERROR", "testproject/catalog/models.py", 7),
        ("no line", "WARNING", "setup.cfg", None),
        ("a note", "INFO", None, None),
    ]
    settings.TEST_CHECK_RAISES = "boom"
    stdout, _, code = run_command(
        "predeploy",
        "--only",
        "tests.project",
        "--only",
        "cicd.database.reachable",
        "--only",
        "cicd.waivers",
        "--only",
        "cicd.sentry.config",
        "--environment",
        "production",
        "--format",
        "json",
    )
    assert code == 1
    document = json.loads(stdout)
    by_id = {check["id"]: check for check in document["checks"]}
    assert by_id["tests.project.crash"]["status"] == "error"
    assert by_id["tests.project.echo"]["findings"][0]["waiver"]["expires"] == "2999-12-31"
    assert by_id["tests.project.echo"]["findings"][1]["location"] == {"path": "setup.cfg", "line": None}
    assert "extra" in by_id["cicd.database.reachable"]["findings"][0]
    assert by_id["cicd.sentry.config"]["status"] == "skipped"
    _assert_valid(document)


@pytest.mark.django_db(databases="__all__")
def test_no_db_report_validates(tmp_path):
    stdout, _, _ = run_command("predeploy", "--no-db", "--skip", "cicd.static.collect", "--format", "json")
    document = json.loads(stdout)
    assert any(check["status"] == "skipped" for check in document["checks"])
    _assert_valid(document)


def test_schema_rejects_what_the_report_never_holds():
    """The schema is strict: a renamed or undocumented field fails the validation above."""
    validator = _validator()
    good = {
        "schema": "django-cicd/predeploy-report",
        "version": 2,
        "tool": {"name": "django-cicd", "version": "1.0"},
        "command": "predeploy",
        "status": "passed",
        "exit_code": 0,
        "fail_level": "warning",
        "environment": None,
        "databases": [],
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_ms": 1.0,
        "summary": "predeploy PASSED",
        "counts": dict.fromkeys(
            ("checks", "passed", "failed", "skipped", "error", "findings", "blocking", "waived"), 0
        ),
        "checks": [],
    }
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "undocumented": 1})
    assert not validator.is_valid({**good, "exit_code": 2})
    assert not validator.is_valid({**good, "fail_level": "info"})


def test_every_predeploy_option_is_in_the_options_table():
    from django.core.management.base import BaseCommand

    from django_cicd.management.commands.predeploy import Command

    own = set()
    for action in Command().create_parser("manage.py", "predeploy")._actions:
        own.update(o for o in action.option_strings if o.startswith("--"))
    django_defaults = set()
    for action in BaseCommand().create_parser("manage.py", "x")._actions:
        django_defaults.update(action.option_strings)
    table = _section(PREDEPLOY_PAGE.read_text(), "## Options")
    documented = set(re.findall(r"^\| `(--[a-z-]+)", table, re.M))
    assert documented == own - django_defaults
