"""Defects found in the predeploy reports while documenting them, one test each."""

from __future__ import annotations

import json

import pytest

from django_cicd.checks.registry import register, registry
from django_cicd.redaction import redact, secret_values
from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__")

PROJECT_CHECKS = {"CHECKS": ["tests.project_checks"]}
ONLY_ECHO = ["--only", "tests.project.echo"]


@pytest.fixture
def one_warning(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("the CDN is slow", "WARNING", None, None)]
    return settings


def test_gitlab_severity_of_a_blocking_warning_is_major(one_warning):
    stdout, _, code = run_command("predeploy", *ONLY_ECHO, "--format", "gitlab")
    assert code == 1
    [issue] = json.loads(stdout)
    assert issue["severity"] == "major"


def test_gitlab_severity_of_a_warning_below_the_fail_level_is_minor(one_warning):
    stdout, _, code = run_command("predeploy", *ONLY_ECHO, "--format", "gitlab", "--fail-level", "error")
    assert code == 0
    [issue] = json.loads(stdout)
    assert issue["severity"] == "minor"


def test_gitlab_severity_of_a_waived_finding_is_info(settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "tests.project.echo", "reason": "known, ticket 12"}]}
    settings.TEST_CHECK_FINDINGS = [("the search index is stale", "ERROR", None, None)]
    stdout, _, code = run_command("predeploy", *ONLY_ECHO, "--format", "gitlab")
    assert code == 0
    [issue] = json.loads(stdout)
    assert issue["severity"] == "info"
    assert issue["description"] == "the search index is stale (waived: known, ticket 12)"


def test_check_description_is_dedented():
    @register("tests.doc.indented", title="Indented docstring")
    def indented(ctx):
        """First line.

        Second paragraph, indented in the source.
            An indented example.
        """
        return []

    try:
        check = registry.get("tests.doc.indented")
    finally:
        registry.unregister("tests.doc.indented")
    assert check.description == "First line.\n\nSecond paragraph, indented in the source.\n    An indented example."


def test_builtin_descriptions_have_no_source_indentation():
    for check in registry:
        rest = [line for line in check.description.splitlines()[1:] if line.strip()]
        if rest:
            assert min(len(line) - len(line.lstrip()) for line in rest) == 0, check.id


def test_sarif_full_description_is_dedented(settings):
    settings.CICD = {"WAIVERS": [{"id": "cicd.django.checks", "reason": "until the audit", "expires": "2000-01-01"}]}
    stdout, _, code = run_command("predeploy", "--only", "cicd.waivers", "--format", "sarif")
    assert code == 1
    rules = json.loads(stdout)["runs"][0]["tool"]["driver"]["rules"]
    [rule] = [r for r in rules if r["id"] == "cicd.waivers.expired"]
    assert rule["fullDescription"]["text"] == (
        'Every entry of ``CICD["WAIVERS"]`` has an id and a reason, and none has expired.\n\n'
        "An expired waiver fails the run even when the problem it covered is gone: the date was a promise\n"
        "to look again. Waivers that matched nothing are listed as information."
    )


def test_auth_user_model_is_not_a_secret(settings):
    settings.AUTH_USER_MODEL = "auth.User"
    settings.SOCIAL_AUTH_PIPELINE = "social_core.pipeline.social_auth.social_details"
    values = secret_values()
    assert "auth.User" not in values
    assert "social_core.pipeline.social_auth.social_details" not in values
    assert redact("the model auth.User has no index") == "the model auth.User has no index"


def test_names_ending_in_auth_are_still_secret(settings, monkeypatch):
    settings.PROXY_AUTH = "proxy-user:Zq8#vL2!pw"
    monkeypatch.setenv("BASIC_AUTH", "admin:Xy7$kk90-aa")
    assert redact("via proxy-user:Zq8#vL2!pw and admin:Xy7$kk90-aa") == "via ******** and ********"


def test_text_report_aligns_waived_findings_with_the_others(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("waived one", "ERROR", None, None)]
    plain, _, _ = run_command("predeploy", *ONLY_ECHO, "--no-color")
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "tests.project.echo", "reason": "known, ticket 12"}]}
    waived, _, code = run_command("predeploy", *ONLY_ECHO, "--no-color")
    assert code == 0
    [plain_line] = [line for line in plain.splitlines() if "tests.project.echo: " in line]
    [waived_line] = [line for line in waived.splitlines() if "tests.project.echo: " in line]
    assert plain_line == "          error    tests.project.echo: waived one"
    assert waived_line == "          waived   tests.project.echo: waived one"
