"""The predeploy reports in every format: defects found while documenting them and in review (secrets
that encoding would disguise, crashed checks, locations, fingerprints, control characters), one test each."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest
from django.db import connections

from django_cicd.checks.registry import register, registry
from django_cicd.redaction import redact, secret_values
from tests.utils import ROOT, run_command

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


TRICKY = {
    "db": 'pä$$wörd"<db>&1',
    "cache": "c%ch3,pw:x",
    "storage": "s3-secret/key+Ab12|x",
    "stripe": "sk_live_\\4eC39HqLyjWDarjtT1",
    "env": "env-pwd'%0A-99zz",
}


def test_tricky_secrets_masked_in_every_format(settings, monkeypatch, tmp_path):
    settings.CICD = PROJECT_CHECKS
    db = connections["default"].settings_dict
    saved_password = db.get("PASSWORD")
    settings.DATABASES["default"]["PASSWORD"] = TRICKY["db"]
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.InMemoryStorage", "OPTIONS": {"secret_key": TRICKY["storage"]}},
    }
    settings.STRIPE_API_KEY = TRICKY["stripe"]
    settings.CACHES = {
        **settings.CACHES,
        "sessions": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "x",
            "OPTIONS": {"password": TRICKY["cache"]},
        },
    }
    monkeypatch.setenv("MYSQL_PWD", TRICKY["env"])
    # Names that look secret with values that do not: they must not be masked (nor break JSON).
    monkeypatch.setenv("PRIVATE_REGISTRY", "false")
    monkeypatch.setenv("AUTH_MODE", "passed")
    monkeypatch.setenv("PWD", str(ROOT))  # the shell's working directory is not a secret
    monkeypatch.setenv("XAUTHORITY", "/root/.Xauthority")
    settings.TEST_CHECK_FINDINGS = [(f"leak {v}", "ERROR", f"dir/{v}.py", 2) for v in TRICKY.values()]
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    try:
        outputs = {}
        for fmt in ("text", "json", "junit", "github", "gitlab", "sarif"):
            target = tmp_path / f"report.{fmt}"
            stdout, stderr, code = run_command("predeploy", *ONLY_ECHO, "--format", fmt, "--output", str(target))
            assert code == 1
            outputs[fmt] = target.read_text()
            outputs[f"{fmt}-stdout"] = stdout + stderr
    finally:
        settings.DATABASES["default"]["PASSWORD"] = saved_password
    outputs["summary"] = (tmp_path / "summary.md").read_text()
    # Decode each machine format the way its consumer does, then search the decoded text too.
    decoded = [
        json.dumps(json.loads(outputs["json"]), ensure_ascii=False),
        json.dumps(json.loads(outputs["gitlab"]), ensure_ascii=False),
        json.dumps(json.loads(outputs["sarif"]), ensure_ascii=False),
        ET.tostring(ET.fromstring(outputs["junit"]), encoding="unicode"),
        " ".join(e.text or "" for e in ET.fromstring(outputs["junit"]).iter()),
        " ".join(e.get("message", "") for e in ET.fromstring(outputs["junit"]).iter()),
        outputs["github"].replace("%0A", "\n").replace("%2C", ",").replace("%3A", ":").replace("%25", "%"),
    ]
    everything = "\n".join([*outputs.values(), *decoded])
    for name, value in TRICKY.items():
        assert value not in everything, name
    document = json.loads(outputs["json"])
    messages = [f["message"] for c in document["checks"] for f in c["findings"]]
    assert messages == ["leak ********"] * len(TRICKY)
    assert document["status"] == "failed"  # not masked as a secret
    from django_cicd.redaction import secret_values

    assert str(ROOT) not in secret_values()
    assert "/root/.Xauthority" not in secret_values()
    assert TRICKY["env"] in secret_values()  # MYSQL_PWD is


def test_crashed_check_blocks_in_every_format(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_RAISES = "boom"
    stdout, _, code = run_command("predeploy", "--only", "tests.project.crash", "--format", "github")
    assert code == 1
    assert stdout.startswith("::error title=tests.project.crash (tests.project.crash)::the check raised RuntimeError")
    document = json.loads(run_command("predeploy", "--only", "tests.project.crash", "--format", "json")[0])
    assert document["checks"][0]["status"] == "error"
    assert document["checks"][0]["findings"][0]["blocking"] is True
    sarif = json.loads(run_command("predeploy", "--only", "tests.project.crash", "--format", "sarif")[0])
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith("tests.project.crash: the check")


def test_sarif_gives_every_result_a_location(settings):
    settings.DEBUG = True
    document = json.loads(run_command("predeploy", "--only", "cicd.django.checks", "--format", "sarif")[0])
    results = document["runs"][0]["results"]
    assert results
    for item in results:
        assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "tests/settings.py"


def test_gitlab_fingerprints_differ_for_findings_of_one_code(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("field a is bad", "ERROR", "m.py", 3), ("field b is bad", "ERROR", "m.py", 3)]
    issues = json.loads(run_command("predeploy", *ONLY_ECHO, "--format", "gitlab")[0])
    assert len({i["fingerprint"] for i in issues}) == 2


def test_junit_drops_control_characters(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("bell \x07 and escape \x1b[31m", "ERROR", None, None)]
    stdout, _, _ = run_command("predeploy", *ONLY_ECHO, "--format", "junit")
    failure = ET.fromstring(stdout).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bell  and escape [31m"


def test_unwritable_step_summary_is_a_warning(settings, monkeypatch, tmp_path):
    settings.CICD = PROJECT_CHECKS
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    _, stderr, code = run_command("predeploy", *ONLY_ECHO, "--format", "github")
    assert code == 0
    assert stderr.startswith("warning: cannot append to $GITHUB_STEP_SUMMARY")
