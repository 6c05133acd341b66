"""cicd_init's pipelines for CircleCI, Travis CI and Jenkins (``--ci circleci|travis|jenkins``).

What is validated, and with what, offline:

* ``.circleci/config.yml`` and ``.travis.yml`` against the CircleCI and Travis CI JSON schemas that
  check-jsonschema (PyPI) ships (``--builtin-schema vendor.circle-ci`` / ``vendor.travis``);
* the ``Jenkinsfile``: no offline validator of declarative pipelines exists. Jenkins's own
  (``declarative-linter``, over the CLI or HTTP) runs inside a Jenkins controller, and none is
  installable from PyPI or Debian; npm-groovy-lint is a Groovy style linter that needs a Java
  runtime and does not know the declarative grammar. So the tests read it with a structural parser
  (``tests/jenkinsfile.py``: Groovy's comments, strings and escapes, brackets) and check the
  declarative shape: one ``pipeline`` with the sections and directives Jenkins accepts where they
  stand, every stage with ``steps``, the JUnit report published;
* every shell script of the three files (CircleCI's ``run`` steps, Travis CI's phases, Jenkins's
  ``sh`` steps as Groovy unescapes them) with ``bash -n`` and shellcheck (Debian) at warning level.

Then the pipelines' behaviour, as the GitHub and GitLab ones have it: the deploy runs predeploy,
``safe_migrate --stage pre`` before the rollout and ``--stage post`` after the health check; the
rehearsal runs on staging; rollback_release is a manual step. What the test stage's predeploy
passes is run for real in tests/test_cicd_init_pipeline_predeploy.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from django_cicd.scaffold import CI_SYSTEMS, DEFAULT_CI, TARGETS, detect_project, render_files, write_files
from tests.jenkinsfile import JenkinsfileError, Statement, parse, shell_scripts, stages
from tests.test_cicd_init_stages import HEALTH, RELEASE_PHASE, ROLLOUT, STAGE, command_lines, first
from tests.test_cicd_init_stages import TARGETS as TARGET_NAMES
from tests.utils import ROOT, need, run_command

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
VENDORS = ["postgresql", "mysql", "sqlite"]
NEW_SYSTEMS = ["circleci", "travis", "jenkins"]
FILES = {"circleci": ".circleci/config.yml", "travis": ".travis.yml", "jenkins": "Jenkinsfile"}
SCHEMAS = {"vendor.circle-ci": FILES["circleci"], "vendor.travis": FILES["travis"]}


def run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Every target x vendor, written once with every CI system."""
    root = tmp_path_factory.mktemp("generated")
    projects = {}
    for target in TARGET_NAMES:
        for vendor in VENDORS:
            directory = root / f"{target}-{vendor}"
            directory.mkdir()
            shutil.copy(ROOT / "manage.py", directory / "manage.py")
            project = detect_project(
                directory, settings_module="testproject.settings", targets=[target], vendor=vendor, ci=CI_SYSTEMS
            )
            write_files(render_files(project), directory)
            projects[target, vendor] = directory
    return projects


def schema_problems(schema: str, paths: list[str]) -> dict[str, list[str]]:
    result = run(str(CHECK_JSONSCHEMA), "--output-format", "json", "--builtin-schema", schema, *paths)
    report = json.loads(result.stdout)
    problems: dict[str, list[str]] = {}
    for error in report.get("errors", []) + report.get("parse_errors", []):
        problems.setdefault(error["filename"], []).append(f"{schema}: {error.get('path', '')} {error.get('message')}")
    if result.returncode != 0 and not problems:
        pytest.fail(f"check-jsonschema could not run: {result.stderr}")
    return problems


@pytest.fixture(scope="module")
def schema_verdicts(generated) -> dict[str, list[str]]:
    """One check-jsonschema call per schema over every generated file (loading it dominates)."""
    need(CHECK_JSONSCHEMA.is_file(), "check-jsonschema is missing: pip install -r requirements/test.txt")
    problems: dict[str, list[str]] = {}
    for schema, relative in SCHEMAS.items():
        problems.update(schema_problems(schema, [str(d / relative) for d in generated.values()]))
    return problems


# --- the files are valid ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_circleci_and_travis_files_pass_their_schemas(generated, schema_verdicts, target, vendor):
    directory = generated[target, vendor]
    for relative in SCHEMAS.values():
        assert schema_verdicts.get(str(directory / relative), []) == []


def test_the_schemas_do_fail_on_broken_files(tmp_path):
    """Proof that the check above can fail: a misspelt step key, a job include that is not a job."""
    need(CHECK_JSONSCHEMA.is_file(), "check-jsonschema is missing: pip install -r requirements/test.txt")
    circleci = tmp_path / "config.yml"
    circleci.write_text(
        "version: 2.1\njobs:\n  t:\n    docker: [{image: cimg/base:current}]\n    stepz: [checkout]\n"
        "workflows:\n  w:\n    jobs: [t]\n"
    )
    travis = tmp_path / ".travis.yml"
    travis.write_text("language: python\njobs:\n  include:\n    - stage: test\n      script: {run: 1}\n")
    assert schema_problems("vendor.circle-ci", [str(circleci)]) != {}
    assert schema_problems("vendor.travis", [str(travis)]) != {}


#: Where each declarative directive may stand (Jenkins's "Declarative Pipeline" syntax reference).
PIPELINE_SECTIONS = {
    *("agent", "environment", "options", "parameters", "triggers", "tools", "stages", "post", "libraries")
}
STAGE_DIRECTIVES = {"agent", "environment", "options", "when", "input", "tools", "steps", "stages", "parallel", "post"}
POST_CONDITIONS = {"always", "changed", "fixed", "regression", "aborted", "failure", "success", "unstable", "cleanup"}
WHEN_CONDITIONS = {"beforeAgent", "beforeInput", "beforeOptions", "branch", "expression", "not", "allOf", "anyOf"}


def jenkinsfile_problems(text: str) -> list[str]:
    """What is wrong with the declarative structure of ``text`` (an empty list when nothing)."""
    try:
        file = parse(text)
    except JenkinsfileError as exc:
        return [f"does not parse: {exc}"]
    problems = []
    if "{%" in text or re.search(r"\{\{ [\w.|:\"]+ \}\}", text):  # Go templates ({{end}}) have no spaces
        problems.append("a template tag or variable was left unrendered")
    if [s.name for s in file.body or []] != ["pipeline"]:
        return [*problems, "the file must hold one pipeline block and nothing else"]
    pipeline = file.one("pipeline")
    names = [s.name for s in pipeline.body or []]
    problems += [f"unknown pipeline section {n!r}" for n in names if n not in PIPELINE_SECTIONS]
    problems += [f"pipeline section {n!r} repeated" for n in set(names) if names.count(n) > 1]
    if "agent" not in names or "stages" not in names:
        problems.append("a pipeline needs agent and stages")
    for name, stage in stages(pipeline).items() if "stages" in names else ():
        directives = [s.name for s in stage.body or []]
        problems += [f"stage {name}: unknown directive {d!r}" for d in directives if d not in STAGE_DIRECTIVES]
        if sum(d in ("steps", "stages", "parallel") for d in directives) != 1:
            problems.append(f"stage {name}: needs exactly one of steps, stages, parallel")
        for when in stage.all("when"):
            unknown = {s.name for s in when.body or []} - WHEN_CONDITIONS
            problems += [f"stage {name}: unknown when condition {c!r}" for c in sorted(unknown)]
        for post in stage.all("post"):
            unknown = {s.name for s in post.body or []} - POST_CONDITIONS
            problems += [f"stage {name}: unknown post condition {c!r}" for c in sorted(unknown)]
        for environment in stage.all("environment"):
            for variable in environment.body or []:
                if len(variable.head) < 3 or variable.head[1].value != "=":
                    problems.append(f"stage {name}: environment line {variable.text!r} is not NAME = value")
        if not stage.all("steps"):
            continue
        for step in stage.one("steps").walk():
            if step.name == "sh" and not step.strings[-1].startswith("#!/bin/bash\n"):
                problems.append(f"stage {name}: an sh step without #!/bin/bash (the scripts use bash)")
    return problems


def jenkins(directory: Path) -> Statement:
    return parse((directory / "Jenkinsfile").read_text()).one("pipeline")


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_jenkinsfile_is_a_declarative_pipeline(generated, target, vendor):
    directory = generated[target, vendor]
    assert jenkinsfile_problems((directory / "Jenkinsfile").read_text()) == []
    pipeline = jenkins(directory)
    assert list(stages(pipeline)) == ["Test", "Build", "Rehearse", "Deploy", "Rollback"]
    assert pipeline.one("agent").head[1].value == "none"  # each stage takes its own agent
    assert "disableConcurrentBuilds" in [s.name for s in pipeline.one("options").body or []]


def test_the_jenkinsfile_check_can_fail(generated):
    """Proof that the structural check fails where Jenkins would refuse the file."""
    good = (generated["swarm", "sqlite"] / "Jenkinsfile").read_text()
    assert jenkinsfile_problems(good) == []
    broken = {
        "an unclosed block": good.rstrip().removesuffix("}"),
        "an unclosed string": good.replace("sh '''#!/bin/bash", "sh '#!/bin/bash", 1),
        "a misspelt directive": good.replace("            steps {", "            step {", 1),
        "a stage without steps": re.sub(r"stage\('Build'\) \{", "stage('Build') {\n            stages {}", good),
        "an unknown post condition": good.replace("always {", "allways {", 1),
        "a step outside steps": good.replace("    options {", "    sh 'true'\n    options {", 1),
    }
    for what, text in broken.items():
        assert text != good, what
        assert jenkinsfile_problems(text) != [], what


def scripts_of(directory: Path) -> dict[str, str]:
    """Every shell script of the three files, labelled, as its shell receives it."""
    scripts = {}
    for name, stage in stages(jenkins(directory)).items():
        for i, script in enumerate(shell_scripts(stage)):
            scripts[f"Jenkinsfile {name} sh #{i}"] = script
    circleci = yaml.safe_load((directory / FILES["circleci"]).read_text())
    for job_name, job in {**circleci["jobs"], **circleci["commands"]}.items():
        for i, step in enumerate(job["steps"]):
            if isinstance(step, dict) and "run" in step:
                command = step["run"] if isinstance(step["run"], str) else step["run"]["command"]
                # CircleCI's default shell for a Linux Docker job.
                scripts[f"circleci {job_name} step #{i}"] = "#!/bin/bash\nset -eo pipefail\n" + command
    travis = yaml.safe_load((directory / FILES["travis"]).read_text())
    for job in travis["jobs"]["include"]:
        lines = [
            line for phase in ("install", "before_script", "script") if isinstance(job.get(phase), list)
            for line in job[phase]
        ]  # fmt: skip
        # Travis CI runs a job's phases in one bash session.
        scripts[f"travis {job['stage']}"] = "#!/bin/bash\n" + "\n".join(lines)
    return scripts


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_every_script_passes_bash_and_shellcheck(generated, target, vendor):
    need(shutil.which("shellcheck") is not None, "shellcheck is missing: apt-get install shellcheck")
    problems = []
    for label, script in scripts_of(generated[target, vendor]).items():
        parsed = run("bash", "-n", "-c", script)
        if parsed.returncode:
            problems.append(f"{label}: bash -n: {parsed.stderr}")
        checked = run("shellcheck", "--shell=bash", "--severity=warning", "--format=gcc", "-", stdin=script)
        if checked.returncode:
            problems.append(f"{label}: {checked.stdout}")
    assert problems == []


def test_shellcheck_does_fail(tmp_path):
    need(shutil.which("shellcheck") is not None, "shellcheck is missing: apt-get install shellcheck")
    assert run("shellcheck", "--shell=bash", "--severity=warning", "-", stdin='x=1\necho "$y"\n').returncode == 1


# --- what they run, in what order -----------------------------------------------------------------------


def deploy_lines(directory: Path, system: str) -> list[str]:
    """The shell lines of the deploy job, in order, without the headers it echoes."""
    if system == "circleci":
        job = yaml.safe_load((directory / FILES["circleci"]).read_text())["jobs"]["deploy"]
        scripts = [s["run"]["command"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
    elif system == "travis":
        jobs = yaml.safe_load((directory / FILES["travis"]).read_text())["jobs"]["include"]
        (job,) = [j for j in jobs if j["stage"] == "deploy"]
        scripts = job["before_script"] + job["script"]
    else:
        scripts = shell_scripts(stages(jenkins(directory))["Deploy"])
    return [line for line in command_lines(scripts) if not line.startswith("echo '---")]


@pytest.mark.parametrize("system", NEW_SYSTEMS)
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_deploy_checks_migrates_pre_rolls_out_checks_health_then_migrates_post(generated, target, system):
    lines = deploy_lines(generated[target, "postgresql"], system)
    predeploy = first(lines, "python manage.py predeploy")
    assert "--skip" not in lines[predeploy]  # every check, with production's settings
    rollout, health = first(lines, ROLLOUT[target]), first(lines, HEALTH[target])
    pre_line = STAGE["pre"].get(target, "safe_migrate --stage pre")
    post_line = STAGE["post"].get(target, "safe_migrate --stage post")
    (post,) = [i for i, line in enumerate(lines) if post_line in line]
    pres = [i for i, line in enumerate(lines) if pre_line in line]
    if target in RELEASE_PHASE:
        assert pres == []  # the platform's release phase runs it, inside the rollout
        pre = rollout
    else:
        (pre,) = pres
    assert predeploy < pre <= rollout < health < post


@pytest.mark.parametrize("system", NEW_SYSTEMS)
def test_swarm_hands_the_pinned_image_to_every_later_step(generated, system):
    """The pre stage pins $IMAGE to its digest; the rollout, the health check and the post stage
    must see the pinned one. CircleCI runs each step in a new shell: through $BASH_ENV. Travis CI
    and Jenkins run the deploy in one shell."""
    directory = generated["swarm", "sqlite"]
    pin = 'IMAGE="$(docker image inspect --format \'{{index .RepoDigests 0}}\' "$IMAGE")"'
    if system == "circleci":
        job = yaml.safe_load((directory / FILES["circleci"]).read_text())["jobs"]["deploy"]
        (pinning,) = [s["run"]["command"] for s in job["steps"] if "run" in s and pin in s["run"]["command"]]
        assert 'echo "export IMAGE=\'$IMAGE\'" >> "$BASH_ENV"' in pinning
    else:
        if system == "travis":
            jobs = yaml.safe_load((directory / FILES["travis"]).read_text())["jobs"]["include"]
            (script,) = next(j for j in jobs if j["stage"] == "deploy")["script"]
        else:
            (script,) = shell_scripts(stages(jenkins(directory))["Deploy"])
        assert script.index(pin) < script.index("docker service update")
        assert script.strip().startswith(("(", "#!/bin/bash")) and "set -eo pipefail" in script


def test_the_rehearsal_runs_on_staging(generated):
    directory = generated["swarm", "sqlite"]
    rehearse = 'safe_migrate --rehearse --release "$RELEASE" --image "$IMAGE"'
    circleci = yaml.safe_load((directory / FILES["circleci"]).read_text())
    assert circleci["jobs"]["rehearse"]["environment"]["DJANGO_ENV"] == "staging"
    assert any(rehearse in s["run"]["command"] for s in circleci["jobs"]["rehearse"]["steps"] if "run" in s)
    workflow = {next(iter(j)) if isinstance(j, dict) else j: j for j in circleci["workflows"]["deploy"]["jobs"]}
    assert workflow["rehearse"]["rehearse"]["context"] == ["registry", "staging"]
    assert workflow["deploy"]["deploy"]["requires"] == ["rehearse"]

    (travis,) = [j for j in yaml.safe_load((directory / FILES["travis"]).read_text())["jobs"]["include"]
                 if j["stage"] == "rehearse"]  # fmt: skip
    assert travis["env"] == ["DJANGO_ENV=staging"]
    assert 'from="STAGING_$name"' in travis["before_script"][0]
    assert rehearse in travis["script"][0].replace("\\\n", " ").replace("  ", " ")

    stage = stages(jenkins(directory))["Rehearse"]
    environment = {s.name: s.head[2:] for s in stage.one("environment").body or []}
    assert [t.value for t in environment["SECRET_KEY"]] == ["credentials", "(", "staging-SECRET_KEY", ")"]
    assert environment["DJANGO_ENV"][0].value == "staging"
    assert rehearse in shell_scripts(stage)[0].replace("\\\n", " ").replace("  ", " ")


def test_rollback_is_a_manual_step(generated):
    directory = generated["swarm", "sqlite"]
    rollback = 'rollback_release --noinput --docker-service "$SERVICE"'

    circleci = yaml.safe_load((directory / FILES["circleci"]).read_text())
    workflow = {next(iter(j)) if isinstance(j, dict) else j: j for j in circleci["workflows"]["deploy"]["jobs"]}
    approval = workflow["approve-rollback"]["approve-rollback"]
    assert approval["type"] == "approval"
    assert approval["requires"] == [{"deploy": ["success", "failed"]}]
    assert workflow["rollback"]["rollback"]["requires"] == ["approve-rollback"]  # and nothing else starts it
    assert any(rollback in s["run"]["command"] for s in circleci["jobs"]["rollback"]["steps"] if "run" in s)

    travis = yaml.safe_load((directory / FILES["travis"]).read_text())
    conditions = {stage["name"]: stage["if"] for stage in travis["stages"]}
    assert conditions["rollback"] == "branch = main AND type = api AND env(ROLLBACK) = true"
    assert all("type = push" in conditions[s] for s in ("build", "rehearse", "deploy"))  # never on a rollback build
    assert conditions["test"] == "env(ROLLBACK) != true"
    (job,) = [j for j in travis["jobs"]["include"] if j["stage"] == "rollback"]
    assert rollback in job["script"][0]

    pipeline = jenkins(directory)
    (parameter,) = pipeline.one("parameters").body or []
    assert parameter.name == "booleanParam" and "ROLLBACK" in parameter.strings
    everything = stages(pipeline)
    stage = everything["Rollback"]
    assert "Roll production back" in stage.one("input").one("message").strings[0]
    when = stage.one("when")
    assert [s.name for s in when.body or []][:2] == ["beforeInput", "beforeAgent"]  # no question on other builds
    assert "expression { params.ROLLBACK }" in (directory / "Jenkinsfile").read_text()
    assert rollback in shell_scripts(stage)[0]
    for name in ("Test", "Build", "Rehearse", "Deploy"):
        assert "not" in [c.name for c in everything[name].one("when").walk()], name


def test_jenkins_publishes_the_junit_report_of_predeploy(generated):
    for vendor in VENDORS:
        test_stage = stages(jenkins(generated["swarm", vendor]))["Test"]
        (junit,) = [s for s in test_stage.one("post").one("always").body or [] if s.name == "junit"]
        assert "reports/predeploy.xml" in junit.strings
        (script,) = [s for s in shell_scripts(test_stage) if "manage.py predeploy" in s]
        assert "--format junit --output reports/predeploy.xml" in script


def test_circleci_stores_the_junit_report_of_predeploy(generated):
    job = yaml.safe_load((generated["swarm", "sqlite"] / FILES["circleci"]).read_text())["jobs"]["test"]
    commands = [s["run"]["command"] for s in job["steps"] if isinstance(s, dict) and "run" in s]
    assert any("--format junit --output reports/predeploy/predeploy.xml" in c for c in commands)
    assert {"store_test_results": {"path": "reports/predeploy"}} in job["steps"]


def test_the_production_credentials_are_bound_by_name_and_never_written(generated):
    """Secrets come from the CI system's store (contexts, repository settings, credentials), never the file."""
    directory = generated["swarm", "sqlite"]
    deploy = stages(jenkins(directory))["Deploy"]
    environment = {s.name: [t.value for t in s.head[2:]] for s in deploy.one("environment").body or []}
    for name in ("SECRET_KEY", "DATABASE_URL", "DEPLOY_SSH_KEY"):
        assert environment[name][:2] == ["credentials", "("], name
    assert environment["REGISTRY_CREDENTIALS"] == ["credentials", "(", "registry", ")"]
    # Travis CI exports every repository variable into every job: production's and the platform's
    # carry a prefix, and only the deploy and rollback jobs export them under their own names.
    travis = yaml.safe_load((directory / FILES["travis"]).read_text())["jobs"]["include"]
    for job in travis:
        exports = [line for line in job.get("before_script", []) if line.startswith("for name in")]
        if job["stage"] in ("deploy", "rollback"):
            (line,) = exports
            assert 'from="PRODUCTION_$name"' in line and " DOCKER_HOST;" in line and " SECRET_KEY " in line
        elif job["stage"] == "rehearse":
            assert 'from="STAGING_$name"' in exports[0] and "DOCKER_HOST" not in exports[0]
        else:
            assert exports == [], job["stage"]
    # CircleCI: the Swarm jobs talk to the manager (DOCKER_HOST=ssh://...), not to a remote Docker of CircleCI's.
    circleci = yaml.safe_load((directory / FILES["circleci"]).read_text())["jobs"]
    assert "setup_remote_docker" not in circleci["deploy"]["steps"] + circleci["rollback"]["steps"]
    assert "setup_remote_docker" in circleci["build"]["steps"]
    for system in NEW_SYSTEMS:
        text = (directory / FILES[system]).read_text()
        assert "PRIVATE KEY" not in text and "postgres://" not in text.split("rehearse")[-1]


# --- the command -------------------------------------------------------------------------------------------


@pytest.fixture
def project_dir(tmp_path):
    shutil.copytree(ROOT / "testproject", tmp_path / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    return tmp_path


def test_the_command_writes_the_pipelines_asked_for(project_dir):
    _, stderr, code = run_command(
        "cicd_init", "--ci", "circleci", "--ci", "jenkins", directory=str(project_dir),
        settings_module="testproject.settings",
    )  # fmt: skip
    assert code == 0, stderr
    assert (project_dir / ".circleci" / "config.yml").is_file() and (project_dir / "Jenkinsfile").is_file()
    for other in (".travis.yml", ".gitlab-ci.yml", ".github/workflows/deploy.yml"):
        assert not (project_dir / other).exists(), other
    assert "--ci circleci --target swarm" in (project_dir / ".circleci" / "config.yml").read_text()


def test_without_ci_the_command_writes_github_and_gitlab_only(project_dir):
    stdout, stderr, code = run_command(
        "cicd_init", "--format", "json", directory=str(project_dir), settings_module="testproject.settings"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["project"]["ci"] == list(DEFAULT_CI) == ["github", "gitlab"]
    for other in FILES.values():
        assert not (project_dir / other).exists(), other


def test_an_unknown_ci_system_could_not_run(project_dir):
    _, stderr, code = run_command("cicd_init", "--ci", "bamboo", directory=str(project_dir))
    assert code == 2
    assert "invalid choice: 'bamboo'" in stderr and "'circleci', 'travis', 'jenkins'" in stderr


def test_every_target_knows_every_ci_system(project_dir):
    """A target's scripts are asked for by CI system name: none may refuse the new ones."""
    for target in sorted(set(TARGETS)):
        project = detect_project(project_dir, settings_module="testproject.settings", targets=[target], ci=CI_SYSTEMS)
        paths = [f.path for f in render_files(project)]
        assert {FILES[s] for s in NEW_SYSTEMS} <= set(paths), target


#: The command-line tool each target's deploy job calls, and how the job gets it on the three systems
#: whose images do not have it (GitHub and GitLab use an action or an image that ships it).
PLATFORM_CLI = {
    "kubernetes": ("kubectl ", "dl.k8s.io"),
    "fly": ("flyctl ", "fly.io/install.sh"),
    "heroku": ("heroku ", "cli-assets.heroku.com"),
    "cloudrun": ("gcloud ", "google-cloud-cli-linux-x86_64.tar.gz"),
    "elasticbeanstalk": ("aws ", "awscli-exe-linux-x86_64.zip"),
}


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_a_deploy_job_installs_the_platform_tool_it_calls(generated, target):
    path = generated[target, VENDORS[0]]
    for name in (".circleci/config.yml", ".travis.yml", "Jenkinsfile"):
        text = (path / name).read_text()
        for tool, (call, install) in PLATFORM_CLI.items():
            if tool == target:
                assert call in text, (name, tool)
                assert install in text, f"{name} calls {call.strip()} for {target} without installing it"
