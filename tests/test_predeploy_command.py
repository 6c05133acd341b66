"""manage.py predeploy: options, formats, files, exit codes, secrets."""

from __future__ import annotations

import json
import os
import sys
from xml.etree import ElementTree as ET

import django
import pytest
from django.test import override_settings

from django_cicd.checks import run_checks
from django_cicd.checks.registry import Check, CheckRegistry
from django_cicd.report import Status
from django_cicd.system_checks import check_cicd_settings
from tests.utils import ROOT, run_cli, run_command

pytestmark = pytest.mark.django_db(databases="__all__")

PROJECT_CHECKS = {"CHECKS": ["tests.project_checks"]}
QUICK = ["--only", "tests.project.echo", "--only", "tests.project.crash", "--only", "cicd.migrations.conflicts"]


@pytest.fixture
def planted(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [
        ("the search index is stale", "ERROR", "testproject/catalog/models.py", 7),
        ("the CDN is slow", "WARNING", None, None),
        ("just so you know", "INFO", None, None),
    ]
    return settings


def test_exit_0_when_everything_passes(settings):
    settings.CICD = PROJECT_CHECKS
    stdout, stderr, code = run_command("predeploy", *QUICK)
    assert code == 0, stderr
    assert "PASS  tests.project.echo" in stdout
    assert stdout.rstrip().splitlines()[-1].startswith("predeploy PASSED: 0 failed, 0 errored, 3 passed, 0 skipped")


def test_exit_1_when_a_check_fails(planted):
    stdout, stderr, code = run_command("predeploy", *QUICK)
    assert code == 1
    assert "FAIL  tests.project.echo" in stdout
    assert "the search index is stale [testproject/catalog/models.py:7]" in stdout
    assert "CommandError: predeploy FAILED: 1 failed" in stderr


def test_fail_level_error_lets_warnings_through(planted):
    planted.TEST_CHECK_FINDINGS = planted.TEST_CHECK_FINDINGS[1:]
    assert run_command("predeploy", *QUICK)[2] == 1
    assert run_command("predeploy", *QUICK, "--fail-level", "error")[2] == 0


def test_fail_level_below_warning_is_refused(settings):
    _, stderr, _ = run_command("predeploy", "--fail-level", "info")
    assert "argument --fail-level: invalid choice: 'info'" in stderr  # exit 2 from the CLI: test_cli_exit_codes
    with pytest.raises(ValueError, match="fail level 'info' is too low"):
        run_checks(only=["cicd.waivers"], fail_level="info")
    settings.CICD = {"FAIL_LEVEL": "info"}
    assert [e.id for e in check_cicd_settings()] == ["django_cicd.E005"]


def test_exit_2_for_an_unknown_check_id():
    _, stderr, code = run_command("predeploy", "--only", "cicd.nope")
    assert code == 2
    assert stderr == (
        "CommandError: no check matches 'cicd.nope'; run `manage.py predeploy --list` to see the check ids\n"
    )


def test_exit_2_for_an_unknown_database():
    _, stderr, code = run_command("predeploy", "--database", "replica", "--only", "cicd.database")
    assert code == 2
    assert stderr == "CommandError: unknown database alias 'replica'; DATABASES has: default, other\n"


def test_exit_2_for_a_project_check_that_does_not_import(settings):
    settings.CICD = {"CHECKS": ["tests.nope_checks"]}
    _, stderr, code = run_command("predeploy")
    assert code == 2
    assert "CICD['CHECKS'] entry 'tests.nope_checks' cannot be imported" in stderr


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


def test_a_crashing_check_is_an_error_and_fails_the_run(planted):
    planted.TEST_CHECK_FINDINGS = []
    planted.TEST_CHECK_RAISES = "connection to search reset"
    report = run_checks(only=["tests.project"])
    crash = next(r for r in report.results if r.id == "tests.project.crash")
    assert crash.status == Status.ERROR
    assert crash.findings[0].message == "the check raised RuntimeError: connection to search reset"
    assert report.exit_code == 1
    echo = next(r for r in report.results if r.id == "tests.project.echo")
    assert echo.status == Status.PASSED  # the others still ran


def test_list_prints_ids_and_titles(settings):
    settings.CICD = PROJECT_CHECKS
    stdout, _, code = run_command("predeploy", "--list", "--skip", "cicd.static")
    assert code == 0
    lines = stdout.splitlines()
    assert any(line.startswith("tests.project.echo") and "Echo findings the test planted" in line for line in lines)
    assert any(line.startswith("cicd.database.reachable") and "(skipped under --no-db)" in line for line in lines)
    assert not any(line.startswith("cicd.static") for line in lines)


def test_list_shows_opt_in_checks(settings):
    settings.CICD = PROJECT_CHECKS
    stdout, _, _ = run_command("predeploy", "--list")
    [line] = [line for line in stdout.splitlines() if line.startswith("tests.project.slow")]
    assert line.endswith("(opt-in: select it with --only)")
    assert "tests.project.slow" not in [r.id for r in run_checks(skip=["cicd"]).results]
    [slow] = [r for r in run_checks(only=["tests.project.slow"]).results if r.id == "tests.project.slow"]
    assert slow.duration >= 0.02  # measured around the check: it sleeps 20 ms


def test_selection_by_id_prefix_and_glob():
    reg = CheckRegistry()
    for check_id in ("a.db.reachable", "a.db.version", "a.dbx.other", "a.cache.reachable", "b.db.reachable"):
        reg.register(Check(id=check_id, title=check_id, function=lambda ctx: []))
    reg.register(Check(id="a.db.optional", title="opt-in", function=lambda ctx: [], default=False))

    def ids(**kwargs):
        return [c.id for c in reg.select(**kwargs)]

    assert ids() == ["a.db.reachable", "a.db.version", "a.dbx.other", "a.cache.reachable", "b.db.reachable"]
    assert ids(only=["a.db"]) == ["a.db.reachable", "a.db.version", "a.db.optional"]  # not a.dbx
    assert ids(only=["a.db."]) == ids(only=["a.db"])
    assert ids(only=["a.db.version"]) == ["a.db.version"]
    assert ids(only=["*.reachable"]) == ["a.db.reachable", "a.cache.reachable", "b.db.reachable"]
    assert ids(skip=["a"]) == ["b.db.reachable"]
    assert ids(only=["a.db"], skip=["a.db.optional"]) == ["a.db.reachable", "a.db.version"]
    with pytest.raises(KeyError):
        reg.select(skip=["a.nothing"])


def test_check_ids_must_be_unique():
    from django.core.exceptions import ImproperlyConfigured

    from django_cicd.checks import register

    with pytest.raises(ImproperlyConfigured, match=r"Two predeploy checks use the id 'cicd\.waivers'"):
        register("cicd.waivers", title="again")(lambda ctx: [])


# --- formats ---------------------------------------------------------------------------------


def test_json_format(planted):
    stdout, _, code = run_command("predeploy", *QUICK, "--format", "json")
    assert code == 1
    document = json.loads(stdout)
    assert document["schema"] == "django-cicd/predeploy-report"
    assert document["version"] == 2
    assert document["status"] == "failed" and document["exit_code"] == 1
    assert document["counts"]["failed"] == 1
    echo = next(c for c in document["checks"] if c["id"] == "tests.project.echo")
    assert echo["status"] == "failed"
    stale = echo["findings"][0]
    assert stale == {
        "code": "tests.project.echo",
        "severity": "error",
        "message": "the search index is stale",
        "hint": "hint for the search index is stale",
        "location": {"path": "testproject/catalog/models.py", "line": 7},
        "blocking": True,
        "waiver": None,
    }


def test_junit_format(planted):
    stdout, _, _ = run_command("predeploy", *QUICK, "--format", "junit")
    suites = ET.fromstring(stdout)
    suite = suites.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"tests.project.echo", "tests.project.crash", "cicd.migrations.conflicts"}
    failure = cases["tests.project.echo"].find("failure")
    assert failure.get("message") == "the search index is stale"
    assert "at testproject/catalog/models.py:7" in failure.text
    assert "the CDN is slow" in failure.text  # a warning blocks at the default fail level
    assert cases["cicd.migrations.conflicts"].find("failure") is None


def test_junit_skipped_checks(settings):
    stdout, _, code = run_command("predeploy", "--only", "cicd.database", "--no-db", "--format", "junit")
    assert code == 0
    case = ET.fromstring(stdout).find("testsuite/testcase")
    assert case.find("skipped").get("message") == "--no-db: this check needs a database"


def test_github_format_and_step_summary(planted, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    stdout, _, code = run_command("predeploy", *QUICK, "--format", "github")
    assert code == 1
    lines = stdout.splitlines()
    assert lines[0] == (
        "::error file=testproject/catalog/models.py,line=7,title=tests.project.echo (tests.project.echo)"
        "::the search index is stale%0Ahint: hint for the search index is stale"
    )
    assert lines[1].startswith("::error title=tests.project.echo (tests.project.echo)::the CDN is slow")
    assert not any("just so you know" in line for line in lines)  # information is not an annotation
    markdown = summary.read_text()
    assert markdown.startswith("earlier step\n### predeploy failed")
    assert "| ❌ | `tests.project.echo` |" in markdown


def test_github_escapes_newlines_and_percent(settings):
    settings.CICD = PROJECT_CHECKS
    settings.TEST_CHECK_FINDINGS = [("100% broken\nsecond line", "ERROR", "a,b:c.py", 3)]
    stdout, _, _ = run_command("predeploy", "--only", "tests.project.echo", "--format", "github")
    assert stdout.splitlines()[0].startswith("::error file=a%2Cb%3Ac.py,line=3,")
    assert "::100%25 broken%0Asecond line%0A" in stdout.splitlines()[0]


def test_gitlab_code_quality_format(planted):
    stdout, _, _ = run_command("predeploy", *QUICK, "--format", "gitlab")
    issues = json.loads(stdout)
    assert [i["description"] for i in issues] == ["the search index is stale", "the CDN is slow"]
    first, second = issues
    assert first["location"] == {"path": "testproject/catalog/models.py", "lines": {"begin": 7}}
    # Both block at the default fail level (warning): an error is a blocker, a warning major.
    assert first["severity"] == "blocker" and second["severity"] == "major"
    assert second["location"]["path"] == "tests/settings.py"  # configuration findings point at settings
    assert len({i["fingerprint"] for i in issues}) == 2
    again = json.loads(run_command("predeploy", *QUICK, "--format", "gitlab")[0])
    assert [i["fingerprint"] for i in again] == [i["fingerprint"] for i in issues]


def test_sarif_format(planted, settings):
    settings.CICD = {**PROJECT_CHECKS, "WAIVERS": [{"id": "tests.project.echo", "reason": "known, ticket 12"}]}
    stdout, _, code = run_command("predeploy", *QUICK, "--format", "sarif")
    assert code == 0  # everything the check found is waived
    document = json.loads(stdout)
    assert document["version"] == "2.1.0"
    run = document["runs"][0]
    assert run["tool"]["driver"]["name"] == "django-cicd"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["tests.project.echo"]
    stale = run["results"][0]
    assert stale["level"] == "error"
    assert stale["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "testproject/catalog/models.py"},
        "region": {"startLine": 7},
    }
    assert stale["suppressions"] == [{"kind": "external", "justification": "known, ticket 12"}]


def test_output_file_gets_the_format_and_stdout_the_text(planted, tmp_path):
    target = tmp_path / "reports" / "predeploy.xml"
    stdout, _, code = run_command("predeploy", *QUICK, "--format", "junit", "--output", str(target))
    assert code == 1
    assert ET.parse(target).getroot().tag == "testsuites"
    assert "FAIL  tests.project.echo" in stdout


def test_output_file_that_cannot_be_written(planted, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _, stderr, code = run_command("predeploy", *QUICK, "--format", "json", "--output", str(blocker / "r.json"))
    assert code == 2
    assert stderr.startswith(f"CommandError: cannot write the report to {blocker / 'r.json'}: ")


# --- secrets ---------------------------------------------------------------------------------

SECRETS = {
    "SECRET_KEY": "planted-secret-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0-zyxwvutsrq",
    "EMAIL_HOST_PASSWORD": "planted-smtp-password-0451",
    "API_TOKEN": "planted-api-token-4242-abcd",
    "SENTRY_KEY": "0123456789abcdef0123456789abcdef",
    "DB_PASSWORD": "planted-db-password-8765",
}


def test_no_secret_in_any_format(settings, monkeypatch, tmp_path):
    settings.SECRET_KEY = SECRETS["SECRET_KEY"]
    if django.VERSION >= (6, 1):
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"password": SECRETS["EMAIL_HOST_PASSWORD"]},
            }
        }
    else:
        settings.EMAIL_HOST_PASSWORD = SECRETS["EMAIL_HOST_PASSWORD"]
    settings.SENTRY_DSN = f"https://{SECRETS['SENTRY_KEY']}@127.0.0.1:9/1"
    monkeypatch.setenv("API_TOKEN", SECRETS["API_TOKEN"])
    monkeypatch.setenv("REPLICA_URL", f"postgres://app:{SECRETS['DB_PASSWORD']}@db.internal/app")
    settings.CICD = PROJECT_CHECKS
    # A check that puts every secret into its message, hint and location: without redaction they
    # would be in every report, so the scan below can fail.
    settings.TEST_CHECK_FINDINGS = [(f"leak {value}", "ERROR", f"path/{value}.py", 1) for value in SECRETS.values()]
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    outputs = []
    for fmt in ("text", "json", "junit", "github", "gitlab", "sarif"):
        target = tmp_path / f"report.{fmt}"
        stdout, stderr, code = run_command("predeploy", *QUICK, "--format", fmt, "--output", str(target))
        assert code == 1
        outputs += [stdout, stderr, target.read_text()]
    outputs.append((tmp_path / "summary.md").read_text())
    everything = "\n".join(outputs)
    for value in SECRETS.values():
        assert value not in everything
    assert everything.count("********") >= 6 * len(SECRETS)


# --- the real command line -------------------------------------------------------------------


def test_cli_exit_codes():
    ok = run_cli("predeploy", "--only", "cicd.migrations.conflicts", "--no-db")
    assert ok.returncode == 0, ok.stderr
    bad_option = run_cli("predeploy", "--format", "xml")
    assert bad_option.returncode == 2
    assert "invalid choice: 'xml'" in bad_option.stderr
    unknown = run_cli("predeploy", "--only", "cicd.nope")
    assert unknown.returncode == 2
    failing = run_cli(
        "predeploy", "--only", "cicd.django.checks", "--no-db", env={"DEBUG": "True"}, settings="testproject.settings"
    )
    assert failing.returncode == 1
    assert "security.W018" in failing.stdout


def test_module_entry_point_exits_2_on_settings_that_do_not_import():
    import subprocess

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.broken_settings", "API_TOKEN": "planted-token-31337"}
    result = subprocess.run(
        [sys.executable, "-m", "django_cicd", "predeploy"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "django-cicd: the settings could not be loaded: ImproperlyConfigured: Set DATABASE_URL "
        "(API_TOKEN is '********')\n"
    )


def test_module_entry_point_runs_the_command():
    import subprocess

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-m", "django_cicd", "predeploy", "--only", "cicd.waivers", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "passed"


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


@override_settings(DEBUG=False)
def test_run_checks_api_returns_a_report():
    report = run_checks(only=["cicd.migrations"], databases=["default"])
    assert report.command == "predeploy"
    assert {r.id for r in report.results} >= {"cicd.migrations.missing", "cicd.migrations.unknown"}
    assert report.databases == ["default"]
