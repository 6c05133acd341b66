"""Every command's JSON document, from real runs in each of its outcomes, validates against its JSON Schema
in docs/reference (django_cicd.results: one envelope, one schema per document)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from jsonschema import Draft202012Validator

from tests.scenarios.migrate.helpers import scenario
from tests.sentry_server import sentry_server
from tests.test_sentry_e2e import STAGING
from tests.utils import ROOT, run_cli, run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

REFERENCE = ROOT / "docs" / "reference"
ENVELOPE = ["schema", "version", "command", "status", "exit_code", "summary"]


def _validator(document: dict) -> Draft202012Validator:
    name = document["schema"].removeprefix("django-cicd/")
    path = REFERENCE / f"{name}.v{document['version']}.schema.json"
    assert path.exists(), f"no schema for {document['schema']} version {document['version']} ({path})"
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _valid(stdout: str, *, status: str | None = None) -> dict:
    document = json.loads(stdout)
    assert list(document)[: len(ENVELOPE)] == ENVELOPE, list(document)
    errors = sorted(_validator(document).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    if status is not None:
        assert document["status"] == status, document["summary"]
    return document


def _json(*args: str, status: str | None = None) -> dict:
    stdout, _stderr, _code = run_command(*args, "--format", "json")
    return _valid(stdout, status=status)


def test_safe_migrate_documents_in_each_outcome():
    _json("safe_migrate", "--release", "r1", status="nothing_to_apply")
    with scenario("catalog_unsafe"):
        blocked = _json("safe_migrate", "--release", "bad", status="blocked")
        assert blocked["findings"] and blocked["hint"]
        _json("safe_migrate", "--release", "bad", "--stage", "pre", status="nothing_to_apply")
    with scenario("catalog_next"):
        _json("safe_migrate", "--plan", status="planned")
        _json("safe_migrate", "--sql", status="planned")
        assert _json("safe_migrate", "--check", status="pending")["exit_code"] == 1
        _json("safe_migrate", "--rehearse", status="passed")
        _json("safe_migrate", "--release", "r2", status="applied")
        _json("safe_migrate", "catalog", "0005", "--release", "back", "--accept-data-loss", status="reversed")
        with override_settings(MIGRATION_MODULES={"catalog": "tests.scenarios.migrate.catalog_review"}):
            _json("safe_migrate", "--release", "r3", status="applied")
        _json("safe_migrate", "--release", "r2", status="applied")
        with override_settings(MIGRATION_MODULES={"catalog": "testproject.catalog.migrations"}):
            _json("safe_migrate", "--release", "old", status="code_older")
    with scenario("catalog_fails"):
        _json("safe_migrate", "--release", "bad", status="recovered")
        _json("safe_migrate", "--release", "bad", "--no-recover", status="failed")


def test_rollback_release_documents_in_each_outcome():
    _json("safe_migrate", "--release", "r1")
    with scenario("catalog_next"):
        _json("safe_migrate", "--release", "r2", status="applied")
        from django.db import connections

        with connections["default"].cursor() as cursor:  # data the reverse of 0006 would drop
            cursor.execute("INSERT INTO catalog_review (stars) VALUES (4)")
        _json("rollback_release", "--plan", status="planned")
        refused = _json("rollback_release", "--noinput", status="refused")
        assert refused["exit_code"] == 1 and refused["refusals"]
        done = _json("rollback_release", "--noinput", "--accept-data-loss", status="rolled_back")
        assert done["steps"] and done["backup"]["sha256"]


def test_releases_and_env_documents():
    assert _json("releases", status="listed")["releases"] == []
    _json("safe_migrate", "--release", "r1")
    assert _json("releases", status="listed")["releases"][0]["name"] == "r1"
    env = _json("env", status="ok")
    assert env["ok"] is True and env["exit_code"] == 0
    broken = run_cli("env", "--stage", "production", "--format", "json", env={"SECRET_KEY": ""})
    assert broken.returncode == 1
    _valid(broken.stdout, status="problems")


def test_sentry_check_documents():
    with sentry_server() as server:
        for status, http in (("accepted", 200), ("refused", 403)):
            server.status = http
            result = run_cli("sentry_check", "--format", "json", env={"SENTRY_DSN": server.dsn, **STAGING})
            assert result.returncode == (0 if http == 200 else 1), result.stdout + result.stderr
            _valid(result.stdout, status=status)


def test_cicd_init_documents(tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(ROOT / "testproject", project / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", project / "manage.py")
    _json("cicd_init", "--directory", str(project), "--dry-run", status="planned")
    _json("cicd_init", "--directory", str(project), status="written")
    (project / "Dockerfile").write_text("# edited by hand\n")
    skipped = _json("cicd_init", "--directory", str(project), status="skipped")
    assert skipped["exit_code"] == 1


def test_predeploy_report_validates():
    Group.objects.create(name="so the database is not empty")
    stdout, _stderr, _code = run_command("predeploy", "--format", "json", "--no-db")
    document = _valid(stdout)
    assert document["schema"] == "django-cicd/predeploy-report" and document["version"] == 2


def test_every_document_the_code_can_print_has_a_schema():
    """Every "django-cicd/..." document named in the code has its schema file, and every schema file is
    a document some code prints."""
    named = set()
    for path in (ROOT / "django_cicd").rglob("*.py"):
        named |= set(re.findall(r'(?:envelope|common_dict)\(\s*"([a-z_-]+)"', path.read_text()))
    files = {re.sub(r"\.v\d+\.schema\.json$", "", p.name) for p in REFERENCE.glob("*.schema.json")}
    assert named - files == set(), "documents without a schema"
    assert files - named == set(), "schemas of no document"


def test_the_schemas_bite():
    document = json.loads(run_command("releases", "--format", "json")[0])
    validator = _validator(document)
    assert validator.is_valid(document)
    assert not validator.is_valid({**document, "undocumented": 1})
    assert not validator.is_valid({**document, "exit_code": 1})
    assert not validator.is_valid({k: v for k, v in document.items() if k != "summary"})


@pytest.mark.parametrize("path", sorted(REFERENCE.glob("*.schema.json")), ids=lambda p: Path(p).name)
def test_each_schema_is_a_valid_draft_2020_12_schema_with_the_envelope(path):
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    assert set(ENVELOPE) <= set(schema["required"])
    assert schema["additionalProperties"] is False
