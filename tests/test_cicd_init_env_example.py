"""The files cicd_init writes and the project's environment contract agree.

Every variable a generated file hands to the application (``docker run -e NAME``, the jobs' env,
compose, the Swarm stack, fly.toml) is declared in the contract, and every variable the contract
requires where the pipelines run the application (staging for the rehearsal, production for the
deploy and the rollback) is handed to it: a missing one stops the settings with a ContractError in
the middle of a deploy. ``.env.example`` is the contract's own rendering.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from django.test import override_settings

from django_cicd import env
from django_cicd.scaffold import detect_project, render_files
from tests.utils import ROOT, run_command

#: A contract unlike testproject's: another stage variable, a required non-secret, an optional secret.
SHOP_CONTRACT = env.Contract(
    env.Var("SECRET_KEY", secret=True, required=["staging", "production"], default="dev-only"),
    env.Var("DATABASE_URL", "db_url", secret=True, required=True),
    env.Var("SITE_URL", required=["production"], help="The public URL."),
    env.Var("STRIPE_KEY", secret=True, help="Payments; optional."),
    env.Var("DEBUG", bool, default=False),
    stage_variable="SHOP_STAGE",
)
SHOP = {"CICD": {"ENV_CONTRACT": "tests.test_cicd_init_env_example.SHOP_CONTRACT"}}
#: Variables of the CI/CD platform and of the pipelines themselves, not of the application.
PLATFORM = re.compile(
    r"^(RELEASE|PREVIOUS_RELEASE|IMAGE|PREVIOUS_IMAGE|IMAGE_NAME|SERVICE|REGISTRY(_USER|_PASSWORD)?|PYTHON_VERSION"
    r"|DJANGO_SETTINGS_MODULE|PIP_CACHE_DIR|POSTGRES_PASSWORD|MARIADB_\w+|FLY_APP|HEROKU_APP|DEPLOY_SSH_\w+"
    r"|DOCKER_HOST|KUBECONFIG_DATA|FLY_API_TOKEN|HEROKU_API_KEY)$"
)


@pytest.fixture
def project_dir(tmp_path):
    shutil.copytree(ROOT / "testproject", tmp_path / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    return tmp_path


def generated(project_dir, target="swarm", vendor="postgresql"):
    project = detect_project(project_dir, settings_module="testproject.settings", targets=[target], vendor=vendor)
    return project, {f.path: f.content for f in render_files(project)}


def docker_run_flags(text: str) -> list[set[str]]:
    """The ``-e NAME`` flags of each ``docker run`` in a pipeline (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [set(re.findall(r"\s-e ([A-Za-z_]\w*)\b", line)) for line in joined.splitlines() if "docker run" in line]


def job_env(workflow: dict, job: str) -> set[str]:
    return set(workflow["jobs"][job].get("env", {}))


def app_variables(contract: env.Contract) -> set[str]:
    return {contract.stage_variable, *(var.name for var in contract.variables)}


def required_where_deployed(contract: env.Contract) -> set[str]:
    return {var.name for var in contract.variables if var.required_in("staging") or var.required_in("production")}


def check_agreement(files: dict[str, str], contract: env.Contract, target: str) -> None:
    declared, required = app_variables(contract), required_where_deployed(contract)
    needed = {contract.stage_variable} | required
    github, gitlab = files[".github/workflows/deploy.yml"], files[".gitlab-ci.yml"]

    # GitHub rehearses with docker run; GitLab runs the rehearsal in the image (the CI/CD variables
    # are its environment) and, except on Swarm, deploys through the platform.
    for pipeline, has_runs in ((github, True), (gitlab, target == "swarm")):
        runs = docker_run_flags(pipeline)
        assert bool(runs) == has_runs
        for flags in runs:
            assert flags <= declared, f"passed but not in the contract: {flags - declared}"
            assert needed <= flags, f"required in staging/production but not passed: {needed - flags}"

    workflow = yaml.safe_load(github)
    for job in ("rehearse", "deploy", "rollback"):
        application = {name for name in job_env(workflow, job) if not PLATFORM.match(name)}
        assert application <= declared, f"{job}: set but not in the contract: {application - declared}"
        assert needed <= application, f"{job}: required but not set: {needed - application}"
    test_env = {name for name in job_env(workflow, "test") if not PLATFORM.match(name)}
    assert test_env <= declared
    assert {var.name for var in contract.variables if var.required_in("test")} <= test_env

    compose = yaml.safe_load(files["docker-compose.yml"])
    compose_env = set(compose["x-app"]["environment"])
    assert contract.stage_variable in compose_env
    assert {var.name for var in contract.variables if var.required_in("development")} <= compose_env

    if target == "swarm":
        stack_env = set(yaml.safe_load(files["deploy/swarm/stack.yml"])["services"]["web"]["environment"])
        names = {name.removesuffix("_FILE") for name in stack_env}
        assert names <= declared and needed <= names
    if target == "kubernetes":
        jobs = ("migrate-pre", "migrate-post", "rollback")
        for path in (f"deploy/kubernetes/{job}-job.yaml" for job in jobs):
            container = yaml.safe_load(files[path])["spec"]["template"]["spec"]["containers"][0]
            assert {item["name"] for item in container["env"]} == {contract.stage_variable}
            assert container["envFrom"]  # the rest from the Secret <name>-env, listed in deployment.yaml
        deployment = files["deploy/kubernetes/deployment.yaml"]
        assert all(re.search(rf"\b{name}\b", deployment) for name in required)
    if target == "fly":
        fly_env = set(re.findall(r"^\s*(\w+) = ", files["fly.toml"].split("[env]")[1].split("[")[0], re.M))
        assert fly_env <= declared


@pytest.mark.parametrize("target", ["swarm", "kubernetes", "fly", "heroku"])
@pytest.mark.parametrize("vendor", ["postgresql", "sqlite"])
def test_the_files_pass_what_testproject_declares(project_dir, target, vendor):
    _, files = generated(project_dir, target, vendor)
    check_agreement(files, env.get_contract(), target)


@override_settings(**SHOP)
@pytest.mark.parametrize("target", ["swarm", "kubernetes"])
def test_another_contract_shapes_the_pipelines(project_dir, target):
    project, files = generated(project_dir, target)
    assert project.stage_variable == "SHOP_STAGE"
    assert project.config_variables == ("SITE_URL",)
    assert project.required_secrets == ("SECRET_KEY", "DATABASE_URL")
    assert "DJANGO_ENV" not in "".join(files.values())
    check_agreement(files, SHOP_CONTRACT, target)
    if target == "swarm":
        stack = yaml.safe_load(files["deploy/swarm/stack.yml"])
        # The optional secret is not one `docker stack deploy` would demand to exist.
        assert set(stack["secrets"]) == {"secret_key", "database_url"}
        assert (
            stack["services"]["web"]["environment"]["SITE_URL"] == "${SITE_URL:?set SITE_URL, the settings require it}"
        )


def test_env_example_is_the_contracts_and_passes_its_check(project_dir):
    _, files = generated(project_dir)
    assert files[".env.example"] == env.get_contract().render_example()
    (project_dir / ".env.example").write_text(files[".env.example"])
    _, stderr, code = run_command("env", "--check-example", str(project_dir / ".env.example"))
    assert code == 0, stderr
    names = {name for name, _ in env.parse_example(files[".env.example"])}
    assert names == app_variables(env.get_contract())


def test_without_a_contract_the_jobs_pass_the_two_django_needs(project_dir):
    # No CICD["ENV_CONTRACT"], and no contract loaded by the settings (the test settings load one).
    with override_settings(CICD={}), pytest.MonkeyPatch.context() as patch:
        patch.setattr(env, "_active", [])
        project, files = generated(project_dir)
    assert (project.secret_variables, project.config_variables) == (("SECRET_KEY", "DATABASE_URL"), ())
    assert ".env.example" not in files
    for flags in docker_run_flags(files[".gitlab-ci.yml"]):
        assert flags == {"DJANGO_ENV", "SECRET_KEY", "DATABASE_URL"}
