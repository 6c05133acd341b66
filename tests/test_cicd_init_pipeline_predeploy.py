"""The predeploy steps of the pipelines cicd_init writes pass where they should and block where they should.

The same for CircleCI, Travis CI and Jenkins (``cicd_init --ci circleci|travis|jenkins``): the job's
``environment`` (CircleCI), the global and the job's ``env`` (Travis CI, ``$VARIABLES`` expanded),
the pipeline's and the stage's ``environment`` with ``credentials('ID')`` taken from a credential
store (Jenkins); the deploy stage's secrets come from the CI system's store as an operator keeps
them (a context; repository variables with the stage's prefix, exported by the job's own line;
Jenkins credentials).

The test job checks what a test build can pass (the code: Django's system checks without the
deploy tag, migrations, static files, the contract for the test stage); the deploy stage checks the
real environment (Django's deploy checks, backups) in the new image with production's variables.

Each test parses the generated YAML and runs the step as CI would: the job's own environment (the
workflow's and the job's ``env`` on GitHub, the global and the job's ``variables`` on GitLab, their
``${{ }}`` expressions and ``$VARIABLES`` expanded with CI's values) and its command lines, in a
shell, against a copy of testproject and a project fresh from ``django-admin startproject`` set up
as docs/tutorial.md says. Nothing of this process's environment leaks in (no DATABASE_URL, no
DJANGO_SETTINGS_MODULE). The vendor is SQLite: the pipeline's URL for a database service
(127.0.0.1:5432, user postgres) would point at a shared server here. The docker wrapper of the
deploy stage is unwrapped: its command runs with only the variables ``docker run -e NAME`` passes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from django_cicd.scaffold import CI_SYSTEMS, detect_project, render_files, write_files
from tests.jenkinsfile import parse, shell_scripts, stages
from tests.utils import ROOT

pytestmark = pytest.mark.slow

RUN_ID = "12093847561"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
#: The values GitHub would give the expressions the generated workflow uses.
GITHUB_CONTEXT = {
    "github.run_id": RUN_ID,
    "github.run_attempt": "1",
    "github.sha": SHA,
    "github.repository": "Acme/Shop",
    "github.actor": "octocat",
    "github.ref": "refs/heads/main",
    "github.event_name": "push",
    "github.event.before": "0" * 40,
    "secrets.GITHUB_TOKEN": "ghs_not-a-real-token",
}
GITLAB_PREDEFINED = {
    "CI_PIPELINE_ID": "1450923",
    "CI_COMMIT_SHA": SHA,
    "CI_COMMIT_BEFORE_SHA": "0" * 40,
    "CI_REGISTRY_IMAGE": "registry.gitlab.com/acme/shop",
    "CI_JOB_NAME": "test",
    "CI_COMMIT_BRANCH": "main",
    "CI_DEFAULT_BRANCH": "main",
    "GITLAB_CI": "true",
    "CI": "true",
}
TRAVIS_PREDEFINED = {
    "TRAVIS_COMMIT": SHA,
    "TRAVIS_BUILD_ID": "918273645",
    "TRAVIS": "true",
    "CI": "true",
    "IMAGE_NAME": "ghcr.io/acme/shop",  # a repository variable the file's header asks for
}
JENKINS_PREDEFINED = {"GIT_COMMIT": SHA, "BUILD_NUMBER": "42", "JENKINS_URL": "https://ci.example.com/"}
#: What an operator keeps in the production environment's secret store, for the deploy stage.
PRODUCTION_SECRETS = {
    "SECRET_KEY": "production-secret-key-for-the-test-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "shop.example.com",
    "CACHE_URL": "locmemcache://",
}


def tutorial_settings() -> str:
    """The lines docs/tutorial.md tells a user to add to a fresh project's settings.py."""
    text = (ROOT / "docs" / "tutorial.md").read_text()
    found = re.search(r"^## 0\. .*?^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert found, "docs/tutorial.md has no '## 0.' section with the settings lines"
    return found.group(1)


def base_env(home: Path) -> dict[str, str]:
    """A CI runner's shell: our Python first on PATH, this checkout's django_cicd importable."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@pytest.fixture(scope="module")
def testproject_source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("testproject")
    shutil.copytree(ROOT / "testproject", directory / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", directory / "manage.py")
    project = detect_project(directory, settings_module="testproject.settings", vendor="sqlite", ci=CI_SYSTEMS)
    write_files(render_files(project), directory)
    return directory


@pytest.fixture(scope="module")
def startproject_source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("startproject")
    env = base_env(tmp_path_factory.mktemp("home"))
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(directory)], check=True, env=env, timeout=120
    )
    settings = directory / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + tutorial_settings())
    # As the user would: manage.py cicd_init in the project, with its own settings.
    result = subprocess.run(
        [sys.executable, "manage.py", "cicd_init", *(f"--ci={system}" for system in CI_SYSTEMS)],
        cwd=directory, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


@pytest.fixture
def testproject_dir(testproject_source, tmp_path):
    """A fresh copy for each test: the steps migrate a database and write reports in it."""
    return shutil.copytree(testproject_source, tmp_path / "testproject-copy")


@pytest.fixture
def startproject_dir(startproject_source, tmp_path):
    return shutil.copytree(startproject_source, tmp_path / "mysite")


@pytest.fixture(params=["testproject", "startproject"])
def project(request):
    return request.getfixturevalue(f"{request.param}_dir")


def github_expand(value: Any, secrets: dict[str, str]) -> str:
    def evaluate(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        if expression.startswith("secrets.") and expression not in GITHUB_CONTEXT:
            return secrets.get(expression.removeprefix("secrets."), "")  # an unset secret is empty
        assert expression in GITHUB_CONTEXT, f"the test does not know the expression {expression!r}"
        return GITHUB_CONTEXT[expression]

    return re.sub(r"\$\{\{(.*?)\}\}", evaluate, str(value))


def gitlab_expand(value: Any, known: dict[str, str]) -> str:
    def evaluate(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in known, f"the test does not know the variable {name!r}"
        return known[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", evaluate, str(value))


def github_job(directory: Path, job: str, secrets: dict[str, str] | None = None) -> tuple[dict[str, str], list]:
    """The environment of a job of the generated workflow, and its steps."""
    workflow = yaml.safe_load((directory / ".github" / "workflows" / "deploy.yml").read_text())
    env = {k: github_expand(v, secrets or {}) for k, v in workflow.get("env", {}).items()}
    env.update({k: github_expand(v, secrets or {}) for k, v in workflow["jobs"][job].get("env", {}).items()})
    return env, workflow["jobs"][job]["steps"]


def gitlab_job(directory: Path, job: str) -> tuple[dict[str, str], dict]:
    """The variables of a job of the generated .gitlab-ci.yml (global, then the job's, expanded), and the job."""
    pipeline = yaml.safe_load((directory / ".gitlab-ci.yml").read_text())
    definition = pipeline[job]
    variables = dict(GITLAB_PREDEFINED, CI_PROJECT_DIR=str(directory))
    for name, value in {**pipeline.get("variables", {}), **definition.get("variables", {})}.items():
        variables[name] = gitlab_expand(value, variables)
    return variables, definition


def predeploy_step(steps: list) -> str:
    runs = [step["run"] for step in steps if "manage.py predeploy" in step.get("run", "")]
    assert len(runs) == 1, f"expected one step that runs predeploy, found {len(runs)}"
    return runs[0]


def shell(script: str, directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``bash -e``, as GitHub's ``run:`` and GitLab's docker executor run a script."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=directory, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def test_the_github_test_job_passes_its_predeploy_step(project, tmp_path):
    job_env, steps = github_job(project, "test")
    assert len(job_env["SECRET_KEY"]) >= 50  # Django's length for a key (security.W009)
    summary = tmp_path / "step-summary.md"
    env = {**base_env(tmp_path), "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = shell(predeploy_step(steps), project, {**env, **job_env})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::error" not in result.stdout
    assert "predeploy PASSED" in result.stdout + summary.read_text()


def test_the_gitlab_test_job_passes_its_predeploy_lines(project, tmp_path):
    variables, job = gitlab_job(project, "test")
    assert len(variables["SECRET_KEY"]) >= 50
    script = job["script"]
    first = next(i for i, line in enumerate(script) if "manage.py migrate" in line)  # after install and tests
    result = shell("\n".join(script[first:]), project, {**base_env(tmp_path), **variables})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "predeploy PASSED" in result.stdout
    junit = (project / "reports" / "predeploy.xml").read_text()
    assert 'failures="0"' in junit and 'errors="0"' in junit


def unwrap_docker_run(script: str, variables: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``docker run --rm -e A -e B ... "$IMAGE" python manage.py predeploy ...`` -> the command in the
    image and the environment ``-e NAME`` passes it (only those names, values from ``variables``)."""
    line = next(line for line in script.replace("\\\n", " ").splitlines() if "manage.py predeploy" in line)
    words = shlex.split(line)
    assert words[:2] == ["docker", "run"], line
    image = words.index("$IMAGE")
    names = [words[i + 1] for i in range(2, image) if words[i] == "-e"]
    return shlex.join(words[image + 1 :]), {name: variables.get(name, "") for name in names}


def deploy_stage_predeploy(directory: Path, system: str) -> tuple[str, dict[str, str]]:
    """The deploy stage's predeploy: its command in the image, and the environment that reaches it."""
    if system in OTHER_SYSTEMS:
        env, script = OTHER_SYSTEMS[system].deploy(directory)
        return unwrap_docker_run(script, env)
    if system == "github":
        job_env, steps = github_job(directory, "deploy", PRODUCTION_SECRETS)
        return unwrap_docker_run(predeploy_step(steps), job_env)
    variables, job = gitlab_job(directory, "predeploy")
    assert job["image"]["name"] == "$IMAGE"  # it runs in the new image
    assert job["environment"]["name"] == "production"  # with production's variables (the store's, below)
    assert job["stage"] == "deploy"
    deploy = yaml.safe_load((directory / ".gitlab-ci.yml").read_text())["deploy"]
    assert deploy["needs"] == ["predeploy"]
    (command,) = job["script"]
    assert command.startswith("cd /app && ")  # the image's working directory: here, the project
    return command.removeprefix("cd /app && "), {**variables, **PRODUCTION_SECRETS}


@pytest.mark.parametrize("system", ["github", "gitlab", "circleci", "travis", "jenkins"])
def test_the_deploy_stage_checks_production_in_the_new_image(testproject_dir, tmp_path, system):
    command, variables = deploy_stage_predeploy(testproject_dir, system)
    assert variables["DJANGO_ENV"] == "production"
    assert "--skip" not in command and "--fail-level" not in command  # every check, at the default level
    database = tmp_path / "production.sqlite3"
    variables = {**variables, "DATABASE_URL": f"sqlite:///{database}"}
    result = shell(command, testproject_dir, {**base_env(tmp_path), **variables})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "predeploy PASSED" in result.stdout


@pytest.mark.parametrize("system", ["github", "gitlab", "circleci", "travis", "jenkins"])
def test_the_deploy_stage_blocks_what_the_test_job_leaves_to_it(startproject_dir, tmp_path, system):
    """startproject's DEBUG = True and its django-insecure key pass the test job, never the deploy."""
    command, variables = deploy_stage_predeploy(startproject_dir, system)
    result = shell(command, startproject_dir, {**base_env(tmp_path), **variables})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "security.W018" in result.stdout and "security.W009" in result.stdout


def test_a_predeploy_finding_stops_the_deploy_without_starting_a_rollback(testproject_dir):
    """GitHub: predeploy is a step of the deploy job, and the rollback job follows a failed deploy. It
    must follow only a deploy that reached safe_migrate: before it, nothing changed, and a rollback
    would take production back from the release it runs. (GitLab: predeploy is its own job, deploy
    needs it, and rollback-on-failure needs deploy, which a failed predeploy skips.)"""
    jobs = yaml.safe_load((testproject_dir / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]
    steps = jobs["deploy"]["steps"]
    checked = next(i for i, step in enumerate(steps) if "manage.py predeploy" in step.get("run", ""))
    migrated = next(i for i, step in enumerate(steps) if step.get("id") == "migrate")
    assert checked < migrated and "safe_migrate" in steps[migrated]["run"]
    outcome = "${{ steps.migrate.outcome == 'success' }}"
    assert jobs["deploy"]["outputs"] == {"migrated": outcome}
    assert jobs["rollback"]["if"] == (
        "${{ always() && ((needs.deploy.result == 'failure' && needs.deploy.outputs.migrated == 'true') "
        "|| inputs.rollback) }}"
    )
    gitlab = yaml.safe_load((testproject_dir / ".gitlab-ci.yml").read_text())
    assert gitlab["deploy"]["needs"] == ["predeploy"]
    assert gitlab["rollback-on-failure"]["needs"] == ["deploy"]


# --- CircleCI, Travis CI, Jenkins --------------------------------------------------------------------------


def _with_predeploy(scripts: list[str]) -> str:
    (script,) = [script for script in scripts if "manage.py predeploy" in script]
    return script


class CircleCI:
    """``.circleci/config.yml``: a job's ``environment`` is literal (CircleCI does not expand it);
    the deploy job's secrets come from the ``production`` context."""

    @staticmethod
    def jobs(directory: Path) -> dict:
        return yaml.safe_load((directory / ".circleci" / "config.yml").read_text())["jobs"]

    @classmethod
    def test(cls, directory: Path, home: Path) -> tuple[dict[str, str], str, Path | None]:
        job = cls.jobs(directory)["test"]
        commands = [step["run"]["command"] for step in job["steps"] if isinstance(step, dict) and "run" in step]
        (stored,) = [step["store_test_results"]["path"] for step in job["steps"] if "store_test_results" in step]
        env = {"CI": "true", "CIRCLECI": "true", **{k: str(v) for k, v in job["environment"].items()}}
        # CircleCI's shell for a run step: /bin/bash -eo pipefail
        return env, _with_predeploy(commands), directory / stored / "predeploy.xml"

    @classmethod
    def deploy(cls, directory: Path) -> tuple[dict[str, str], str]:
        job = cls.jobs(directory)["deploy"]
        commands = [step["run"]["command"] for step in job["steps"] if isinstance(step, dict) and "run" in step]
        env = {**{k: str(v) for k, v in job["environment"].items()}, **PRODUCTION_SECRETS}
        return env, _with_predeploy(commands)


class Travis:
    """``.travis.yml``: the global ``env``, then the job's, exported in order by the shell (so
    ``$VARIABLES`` expand); the deploy job exports each PRODUCTION_NAME repository variable as NAME."""

    @staticmethod
    def job(directory: Path, stage: str) -> tuple[dict[str, str], dict]:
        config = yaml.safe_load((directory / ".travis.yml").read_text())
        (job,) = [job for job in config["jobs"]["include"] if job["stage"] == stage]
        known = dict(TRAVIS_PREDEFINED)
        env = {}
        for entry in [*config["env"]["global"], *job.get("env", [])]:
            name, _, value = entry.partition("=")
            env[name] = known[name] = gitlab_expand(value, known)  # the shell's $NAME and ${NAME}
        return env, job

    @classmethod
    def test(cls, directory: Path, home: Path) -> tuple[dict[str, str], str, Path | None]:
        env, job = cls.job(directory, "test")
        script = job["script"]
        first = next(i for i, line in enumerate(script) if "manage.py migrate" in line)  # after the tests
        # Travis CI runs every line even after one failed, and fails the job: the same with `|| status`.
        lines = [f"{line} || status=1" for line in script[first:]]
        return {"CI": "true", "TRAVIS": "true", **env}, "\n".join([*lines, 'exit "${status:-0}"']), None

    @classmethod
    def deploy(cls, directory: Path) -> tuple[dict[str, str], str]:
        env, job = cls.job(directory, "deploy")
        store = {f"PRODUCTION_{name}": value for name, value in PRODUCTION_SECRETS.items()}
        (export,) = [line for line in job["before_script"] if 'from="PRODUCTION_$name"' in line]
        # The job's own line, run as Travis CI runs it, gives the variables the deploy sees.
        shown = subprocess.run(
            ["bash", "-c", f"{export}\nenv -0"], env={**base_env(Path("/nonexistent")), **env, **store},
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        exported = dict(item.split("=", 1) for item in shown.stdout.split("\0") if "=" in item)
        (script,) = job["script"]
        return {**env, **exported}, script


class Jenkins:
    """``Jenkinsfile``: the pipeline's ``environment``, then the stage's; ``credentials('ID')`` from
    the credential store (``production-NAME`` for the deploy), ``${env.WORKSPACE}`` the workspace."""

    @staticmethod
    def stage(directory: Path, name: str, credentials: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        pipeline = parse((directory / "Jenkinsfile").read_text()).one("pipeline")
        stage = stages(pipeline)[name]
        env = {**JENKINS_PREDEFINED, "WORKSPACE": str(directory)}
        for block in (pipeline.one("environment"), stage.one("environment")):
            for line in block.body or []:
                value = line.head[2:]
                if value[0].value == "credentials":
                    env[line.name] = credentials.get(value[2].value, "")  # Jenkins fails on a missing one
                else:
                    (text,) = [t.value for t in value]
                    env[line.name] = text.replace("${env.WORKSPACE}", str(directory))
        return env, shell_scripts(stage)

    @classmethod
    def test(cls, directory: Path, home: Path) -> tuple[dict[str, str], str, Path | None]:
        env, scripts = cls.stage(directory, "Test", {})
        # The install step's virtualenv: here, this interpreter (first on PATH already).
        (directory / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
        (directory / ".venv" / "bin" / "activate").write_text("")
        return {"CI": "true", **env}, _with_predeploy(scripts), directory / "reports" / "predeploy.xml"

    @classmethod
    def deploy(cls, directory: Path) -> tuple[dict[str, str], str]:
        store = {f"production-{name}": value for name, value in PRODUCTION_SECRETS.items()}
        env, scripts = cls.stage(directory, "Deploy", store)
        return env, _with_predeploy(scripts)


OTHER_SYSTEMS: dict[str, Any] = {"circleci": CircleCI, "travis": Travis, "jenkins": Jenkins}


@pytest.mark.parametrize("system", OTHER_SYSTEMS)
def test_the_test_job_of_the_other_ci_systems_passes_its_predeploy_step(project, tmp_path, system):
    job_env, script, junit = OTHER_SYSTEMS[system].test(project, tmp_path)
    assert job_env["DJANGO_ENV"] == "test"
    assert len(job_env["SECRET_KEY"]) >= 50  # Django's length for a key (security.W009)
    assert "--skip cicd.django.checks --skip cicd.backup" in script  # the deploy stage runs those
    result = shell(script, project, {**base_env(tmp_path), **job_env})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "predeploy PASSED" in result.stdout
    if junit is not None:  # what CircleCI's store_test_results and Jenkins's junit step publish
        report = junit.read_text()
        assert 'failures="0"' in report and 'errors="0"' in report


@pytest.mark.parametrize("system", OTHER_SYSTEMS)
def test_the_test_job_of_the_other_ci_systems_fails_on_a_finding(testproject_dir, tmp_path, system):
    """The step can fail: a model change without its migration is a finding a test build must not pass."""
    models = testproject_dir / "testproject" / "catalog" / "models.py"
    models.write_text(models.read_text() + "\n\nclass Unmigrated(models.Model):\n    name = models.TextField()\n")
    job_env, script, junit = OTHER_SYSTEMS[system].test(testproject_dir, tmp_path)
    result = shell(script, testproject_dir, {**base_env(tmp_path), **job_env})
    assert result.returncode == 1, result.stdout + result.stderr
    if junit is not None:
        assert 'failures="0"' not in junit.read_text()
