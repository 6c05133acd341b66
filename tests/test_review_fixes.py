"""Regression tests for problems found in review: masking after encoding, waiver bypasses, squashes,
stale and inconsistent histories, routers, SARIF locations, crashes, exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from xml.etree import ElementTree as ET

import pytest
from django.core.checks import CheckMessage
from django.core.checks.registry import registry as django_registry
from django.core.management import CommandError
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from django_cicd import planning
from django_cicd.checks import run_checks
from django_cicd.management.base import CicdCommand
from django_cicd.report import Severity
from django_cicd.system_checks import check_cicd_settings
from tests.utils import ROOT, run_command

pytestmark = pytest.mark.django_db(databases="__all__")

PROJECT_CHECKS = {"CHECKS": ["tests.project_checks"]}
ONLY_ECHO = ["--only", "tests.project.echo"]


def result(report, check_id):
    return next(r for r in report.results if r.id == check_id)


# --- secrets that encoding would have disguised ------------------------------------------------

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


# --- waivers ---------------------------------------------------------------------------------


def test_expired_waiver_fails_even_when_the_waivers_check_is_not_selected(settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "x", "reason": "r", "expires": "2026-01-01"}]}
    for selection in ({"only": ["tests.project.echo"]}, {"skip": ["cicd.waivers"], "only": ["tests.project"]}):
        report = run_checks(**selection, today=dt.date(2026, 6, 1))
        assert report.exit_code == 1
        assert result(report, "cicd.waivers").findings[0].code == "cicd.waivers.expired"


def test_a_waiver_cannot_waive_the_waivers_check(settings):
    settings.CICD = {
        "WAIVERS": [{"id": "cicd.waivers", "reason": "shh"}, {"id": "x", "reason": "r", "expires": "2026-01-01"}]
    }
    report = run_checks(only=["cicd.waivers"], today=dt.date(2026, 6, 1))
    assert report.exit_code == 1
    assert all(f.waiver is None for f in result(report, "cicd.waivers").findings)


def test_current_waivers_add_nothing_when_the_check_is_not_selected(settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "x", "reason": "r", "expires": "2099-01-01"}]}
    report = run_checks(only=["tests.project.echo"])
    assert [r.id for r in report.results] == ["tests.project.echo"]


# --- plans and histories -----------------------------------------------------------------------

SQUASHED = {"catalog": "tests.scenarios.predeploy.catalog_squashed"}
LATER = ["0002_product_slug", "0003_populate_slugs", "0004_product_name_idx", "0005_remove_product_legacy_code"]


@pytest.fixture
def only_first_catalog_migration_recorded():
    recorder = MigrationRecorder(connections["default"])
    for name in LATER:
        recorder.record_unapplied("catalog", name)
    yield
    for name in LATER:
        recorder.record_applied("catalog", name)


@override_settings(MIGRATION_MODULES=SQUASHED)
def test_partially_applied_squash_is_planned_through_the_replaced_migrations(only_first_catalog_migration_recorded):
    loader = planning.load_graph()
    applied = planning.applied_migrations("default")
    # The graph without a database takes the squash, which would re-create the table...
    assert planning.forward_plan(loader, applied)[0].label == "catalog.0001_squashed_0002_product_slug"
    # ...so the plan for this database is made from its own graph, as migrate does.
    plan = [s.label for s in planning.plan_for_database(loader, "default", applied) if s.key[0] == "catalog"]
    assert plan == [f"catalog.{name}" for name in LATER]


def test_inconsistent_history_is_reported():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_unapplied("catalog", "0001_initial")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default"])
    finally:
        recorder.record_applied("catalog", "0001_initial")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.code == "cicd.migrations.inconsistent"
    assert finding.message.startswith("default: Migration catalog.0002_product_slug is applied before its dependency")
    assert finding.blocking


def test_rows_left_by_a_finished_squash_are_stale_not_from_the_future():
    recorder = MigrationRecorder(connections["default"])
    recorder.record_applied("catalog", "0002_old_name_of_slug")
    try:
        report = run_checks(only=["cicd.migrations.unknown"], databases=["default"])
    finally:
        recorder.record_unapplied("catalog", "0002_old_name_of_slug")
    [finding] = result(report, "cicd.migrations.unknown").findings
    assert finding.code == "cicd.migrations.stale"
    assert finding.severity == Severity.WARNING
    assert "catalog.0002_old_name_of_slug" in finding.message


@override_settings(DATABASE_ROUTERS=["tests.routers.NothingOnOther"])
def test_aliases_the_routers_never_migrate_are_not_called_unapplied():
    report = run_checks(only=["cicd.migrations.unapplied"], options={"expect_migrated": True})
    [note] = result(report, "cicd.migrations.unapplied").findings
    assert note.message == "other: the database routers allow no model to migrate here; not checked"
    assert report.exit_code == 0


# --- crashes, levels, formats ------------------------------------------------------------------


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


def test_custom_check_levels_map_to_the_nearest_standard_one():
    def custom(app_configs=None, **kwargs):
        return [CheckMessage(35, "between warning and error", id="thirdparty.X001")]

    django_registry.register(custom)
    try:
        report = run_checks(only=["cicd.django.checks"], use_database=False)
    finally:
        django_registry.registered_checks.discard(custom)
    [finding] = [f for f in result(report, "cicd.django.checks").findings if f.code == "thirdparty.X001"]
    assert finding.severity == Severity.WARNING


def test_fail_level_below_warning_is_refused(settings):
    _, stderr, _ = run_command("predeploy", "--fail-level", "info")
    assert "argument --fail-level: invalid choice: 'info'" in stderr  # exit 2 from the CLI: test_cli_exit_codes
    with pytest.raises(ValueError, match="fail level 'info' is too low"):
        run_checks(only=["cicd.waivers"], fail_level="info")
    settings.CICD = {"FAIL_LEVEL": "info"}
    assert [e.id for e in check_cicd_settings()] == ["django_cicd.E005"]


def test_gitlab_fingerprints_differ_for_findings_of_one_code(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("field a is bad", "ERROR", "m.py", 3), ("field b is bad", "ERROR", "m.py", 3)]
    issues = json.loads(run_command("predeploy", *ONLY_ECHO, "--format", "gitlab")[0])
    assert len({i["fingerprint"] for i in issues}) == 2


def test_paths_are_relative_to_the_ci_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert planning.relative_path(str(tmp_path / "app" / "models.py")) == "app/models.py"
    monkeypatch.delenv("GITHUB_WORKSPACE")
    monkeypatch.setenv("CI_PROJECT_DIR", str(tmp_path / "app"))
    assert planning.relative_path(str(tmp_path / "app" / "models.py")) == "models.py"


def test_junit_drops_control_characters(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("bell \x07 and escape \x1b[31m", "ERROR", None, None)]
    stdout, _, _ = run_command("predeploy", *ONLY_ECHO, "--format", "junit")
    failure = ET.fromstring(stdout).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bell  and escape [31m"


def test_list_shows_opt_in_checks(settings):
    settings.CICD = PROJECT_CHECKS
    stdout, _, _ = run_command("predeploy", "--list")
    [line] = [line for line in stdout.splitlines() if line.startswith("tests.project.slow")]
    assert line.endswith("(opt-in: select it with --only)")
    assert "tests.project.slow" not in [r.id for r in run_checks(skip=["cicd"]).results]
    slow = result(run_checks(only=["tests.project.slow"]), "tests.project.slow")
    assert slow.duration >= 0.02  # measured around the check: it sleeps 20 ms


# --- exit codes --------------------------------------------------------------------------------


def test_project_checks_module_that_raises_is_exit_2(settings):
    settings.CICD = {"CHECKS": ["tests.project_checks_broken"]}
    _, stderr, code = run_command("predeploy")
    assert code == 2
    assert stderr == (
        "CommandError: CICD['CHECKS'] entry 'tests.project_checks_broken' cannot be imported: RuntimeError: "
        "search client misconfigured (token planted-broken-token-5555). Give the dotted path of a module or of "
        "a function decorated with django_cicd.checks.register.\n"
    )
    [error] = check_cicd_settings()
    assert error.id == "django_cicd.E003"


def test_unexpected_exception_in_a_command_is_exit_2_and_masked(settings, monkeypatch):
    monkeypatch.setenv("SERVICE_TOKEN", "planted-token-77aa88bb")

    class Command(CicdCommand):
        def handle(self, *args, **options):
            raise RuntimeError(f"driver said: {os.environ['SERVICE_TOKEN']}")

    with pytest.raises(CommandError) as excinfo:
        Command().execute(traceback=False, no_color=True, force_color=False, skip_checks=True)
    assert excinfo.value.returncode == 2
    assert str(excinfo.value) == (
        "test_review_fixes could not run: RuntimeError: driver said: ******** (run with --traceback for details)"
    )
    assert excinfo.value.__cause__ is None


@pytest.mark.parametrize("key", ["IMAGE_VARIABLE", "DOCKER_TAG", "ENVIRONMENT_VARIABLE"])
def test_e009_names_must_be_strings(settings, key):
    settings.CICD = {key: ""}
    [error] = check_cicd_settings()
    assert (error.id, error.msg) == ("django_cicd.E009", f"CICD[{key!r}] must be a non-empty string, not ''.")


def test_e009_environment_and_static_check(settings):
    settings.CICD = {"ENVIRONMENT": 3, "STATIC_CHECK": "yes"}
    assert [e.msg for e in check_cicd_settings()] == [
        "CICD['ENVIRONMENT'] must be a string or None, not 3.",
        "CICD['STATIC_CHECK'] must be True or False.",
    ]


def test_module_entry_point_reads_settings_written_with_a_space():
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    completed = subprocess.run(
        [sys.executable, "-m", "django_cicd", "predeploy", "--settings", "tests.settings", "--only", "cicd.waivers"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_unwritable_step_summary_is_a_warning(settings, monkeypatch, tmp_path):
    settings.CICD = PROJECT_CHECKS
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    _, stderr, code = run_command("predeploy", *ONLY_ECHO, "--format", "github")
    assert code == 0
    assert stderr.startswith("warning: cannot append to $GITHUB_STEP_SUMMARY")
