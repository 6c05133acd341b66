"""The deploy files of ``cicd_init --target cloudrun|elasticbeanstalk|kubernetes``, each checked by the
best validator that runs offline here.

* Kubernetes: every manifest against the Kubernetes JSON schemas, strict (an unknown field is an error),
  with kubernetes-validate, which ships them.
* Cloud Run: no Knative or Cloud Run schema installs offline as a plain schema (the Knative CRD's
  models on PyPI come inside a client library that adds a pytest plugin of its own). So service.yaml
  and the Jobs are parsed as YAML and checked for the Knative serving v1 and run.googleapis.com/v1
  shape by hand, and the part that carries most of the detail, the pod spec inside their templates
  (containers, env from secrets, probes), is validated strictly as a Kubernetes PodSpec with
  kubernetes-validate: Knative's revision spec is a PodSpec with a few fields of its own, removed first.
* Elastic Beanstalk: no schema for ``.ebextensions`` or ``Procfile`` exists, online or offline; the
  config is parsed as YAML and checked for its structure, the Procfile line by line.
* Shell (the Elastic Beanstalk hooks, and every deploy and rollback script of the GitHub and GitLab
  pipelines of these targets): ``bash -n`` and shellcheck (Debian's package).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from django_cicd.scaffold import detect_project, render_files, write_files
from tests.test_cicd_init_commands import manage_py_calls
from tests.test_cicd_init_stages import command_lines, first
from tests.utils import ROOT, need

TARGETS = ["cloudrun", "elasticbeanstalk", "kubernetes"]
HEALTH_PATH = "/health/"
K8S_VERSION = kubernetes_validate.latest_version()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """Each target's files, written for testproject (PostgreSQL) with a health path of its own."""
    directories = {}
    for target in TARGETS:
        directory = tmp_path_factory.mktemp(target)
        shutil.copy(ROOT / "manage.py", directory / "manage.py")
        project = detect_project(
            directory, settings_module="testproject.settings", targets=[target], health_path=HEALTH_PATH
        )
        write_files(render_files(project), directory)
        directories[target] = directory
    return directories


def validate_k8s(document: dict) -> None:
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


def as_pod(pod_spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": pod_spec}


def manage_calls(text: str) -> list[list[str]]:
    return [[call.command, *call.args] for call in manage_py_calls("generated", text)]


# Kubernetes


def k8s_documents(directory: Path) -> dict[tuple[str, str], dict]:
    documents = {}
    for path in sorted((directory / "deploy" / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"], document["metadata"]["name"]] = document
    return documents


def test_kubernetes_manifests_pass_the_kubernetes_schemas(generated):
    documents = k8s_documents(generated["kubernetes"])
    assert set(documents) == {
        ("Deployment", "testproject"),
        ("Service", "testproject"),
        ("Job", "testproject-migrate-pre"),
        ("Job", "testproject-migrate-post"),
        ("Job", "testproject-rollback"),
    }
    for document in documents.values():
        validate_k8s(document)


def test_the_kubernetes_schema_check_can_fail(generated):
    """Proof that the validation above is strict: a misspelt field and a wrong type are refused."""
    deployment = k8s_documents(generated["kubernetes"])["Deployment", "testproject"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"periodSeconds": 10}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        validate_k8s(misspelt)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(wrong_type)


def test_kubernetes_pods_run_unprivileged(generated):
    documents = k8s_documents(generated["kubernetes"])
    for (kind, name), document in documents.items():
        if kind == "Service":
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            # The web server writes nothing outside /tmp; a Job may write a local backup first.
            assert context["readOnlyRootFilesystem"] is (kind == "Deployment"), name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


def test_kubernetes_probes_ask_the_health_path_and_the_service_reaches_the_pods(generated):
    documents = k8s_documents(generated["kubernetes"])
    deployment, service = documents["Deployment", "testproject"], documents["Service", "testproject"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    check = ["python", "/app/docker/healthcheck.py"]
    assert container["readinessProbe"]["exec"]["command"] == check
    assert container["livenessProbe"]["exec"]["command"] == check
    assert f'"{HEALTH_PATH}"' in (generated["kubernetes"] / "docker" / "healthcheck.py").read_text()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {port["containerPort"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def test_kubernetes_jobs_run_each_stage_once_and_never_retry(generated):
    documents = k8s_documents(generated["kubernetes"])
    identity = ["--release", "__RELEASE__", "--image", "__IMAGE__"]
    expected = {
        "testproject-migrate-pre": ["safe_migrate", "--stage", "pre", *identity],
        "testproject-migrate-post": ["safe_migrate", "--stage", "post", *identity],
        "testproject-rollback": ["rollback_release", "--noinput"],
    }
    for name, words in expected.items():
        job = documents["Job", name]
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "manage.py", *words]


# Cloud Run

#: Fields of Knative's revision spec that a Kubernetes PodSpec does not have.
KNATIVE_REVISION_FIELDS = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)
#: Fields of a Cloud Run task template that a Kubernetes PodSpec does not have.
CLOUD_RUN_TASK_FIELDS = ("maxRetries", "timeoutSeconds")


def cloud_run(directory: Path, name: str) -> dict:
    return yaml.safe_load((directory / "deploy" / "cloudrun" / f"{name}.yaml").read_text())


def test_cloud_run_service_has_the_knative_shape_and_a_valid_pod_spec(generated):
    service = cloud_run(generated["cloudrun"], "service")
    assert service["apiVersion"] == "serving.knative.dev/v1"
    assert service["kind"] == "Service"
    assert service["metadata"]["name"] == "testproject"
    assert set(service) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(service["spec"]) == {"template", "traffic"}
    assert service["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]
    template = service["spec"]["template"]
    assert set(template) == {"metadata", "spec"}
    assert all(isinstance(value, str) for value in template["metadata"]["annotations"].values())
    revision = {k: v for k, v in template["spec"].items() if k not in KNATIVE_REVISION_FIELDS}
    assert isinstance(template["spec"]["containerConcurrency"], int)
    validate_k8s(as_pod(revision))
    (container,) = revision["containers"]
    assert container["image"] == "__IMAGE__"
    (port,) = container["ports"]  # Cloud Run sends requests to one port
    assert port == {"name": "http1", "containerPort": 8000}
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH_PATH
        assert container[probe]["httpGet"]["port"] == 8000
    env = {item["name"]: item for item in container["env"]}
    assert env["DJANGO_ENV"]["value"] == "production"
    for name in ("SECRET_KEY", "DATABASE_URL"):  # from Secret Manager, never written in the file
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == "latest"
        assert "value" not in env[name]


def test_cloud_run_pod_spec_check_can_fail(generated):
    """Proof that the PodSpec validation above sees a misspelt probe field."""
    revision = cloud_run(generated["cloudrun"], "service")["spec"]["template"]["spec"]
    revision = {k: v for k, v in revision.items() if k not in KNATIVE_REVISION_FIELDS}
    revision["containers"][0]["startupProbe"]["httpGet"]["pathh"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError, match="pathh"):
        validate_k8s(as_pod(revision))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("migrate-pre-job", ["safe_migrate", "--stage", "pre", "--release", "__RELEASE__", "--image", "__IMAGE__"]),
        ("migrate-post-job", ["safe_migrate", "--stage", "post", "--release", "__RELEASE__", "--image", "__IMAGE__"]),
        ("rollback-job", ["rollback_release", "--noinput"]),
    ],
)
def test_cloud_run_jobs_have_the_job_shape_and_never_retry(generated, name, words):
    job = cloud_run(generated["cloudrun"], name)
    assert job["apiVersion"] == "run.googleapis.com/v1"
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == f"testproject-{name.removesuffix('-job')}"
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 1 and execution["parallelism"] == 1
    task = execution["template"]["spec"]
    assert task["maxRetries"] == 0
    validate_k8s(as_pod({k: v for k, v in task.items() if k not in CLOUD_RUN_TASK_FIELDS}))
    (container,) = task["containers"]
    assert container["image"] == "__IMAGE__"
    assert container["command"] == ["python", "manage.py", *words]


def pipeline_scripts(directory: Path, system: str, job: str) -> list[str]:
    if system == "github":
        workflow = yaml.safe_load((directory / ".github" / "workflows" / "deploy.yml").read_text())
        return [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]
    pipeline = yaml.safe_load((directory / ".gitlab-ci.yml").read_text())
    return list(pipeline[{"deploy": "deploy", "rollback": ".rollback"}[job]]["script"])


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_cloud_run_new_revision_takes_traffic_only_after_the_pre_stage(generated, system):
    lines = command_lines(pipeline_scripts(generated["cloudrun"], system, "deploy"))
    pre = first(lines, "gcloud run jobs execute testproject-migrate-pre")
    no_traffic = first(lines, 'gcloud run deploy "$SERVICE"')
    assert "--no-traffic" in lines[no_traffic]
    shift = first(lines, "gcloud run services update-traffic")
    health = first(lines, "gcloud run services describe")
    post = first(lines, "gcloud run jobs execute testproject-migrate-post")
    assert first(lines, "deploy/cloudrun/migrate-pre-job.yaml") < pre < no_traffic < shift < health < post
    # Each Job execution waits for its end, and fails the step when the execution fails.
    assert "--wait" in lines[pre] and "--wait" in lines[post]


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_cloud_run_rollback_reverses_the_database_then_the_traffic(generated, system):
    lines = command_lines(pipeline_scripts(generated["cloudrun"], system, "rollback"))
    database = first(lines, "gcloud run jobs execute testproject-rollback --region")
    traffic = first(lines, 'gcloud run services update-traffic "$SERVICE"')
    assert database < traffic
    assert '--to-revisions "$previous=100"' in lines[traffic]


# Elastic Beanstalk


def test_elastic_beanstalk_migrates_on_the_leader_only(generated):
    config = yaml.safe_load((generated["elasticbeanstalk"] / ".ebextensions" / "django-cicd.config").read_text())
    assert set(config) == {"container_commands", "option_settings"}
    (command,) = config["container_commands"].values()
    assert command["leader_only"] is True
    assert manage_calls(command["command"]) == [["safe_migrate", "--stage", "pre"]]
    assert command["command"].startswith("bash deploy/elasticbeanstalk/run.sh python manage.py ")
    # The per-instance predeploy hook checks and collects; it never migrates.
    hook = (generated["elasticbeanstalk"] / ".platform" / "hooks" / "predeploy" / "01_django_cicd.sh").read_text()
    assert [call[0] for call in manage_calls(hook)] == ["check", "collectstatic"]


def test_elastic_beanstalk_health_check_asks_the_health_path(generated):
    config = yaml.safe_load((generated["elasticbeanstalk"] / ".ebextensions" / "django-cicd.config").read_text())
    options = config["option_settings"]
    assert all(isinstance(namespace, str) and namespace.startswith("aws:") for namespace in options)
    assert all(isinstance(values, dict) for values in options.values())
    assert options["aws:elasticbeanstalk:application"]["Application Healthcheck URL"] == HEALTH_PATH
    assert options["aws:elasticbeanstalk:environment:process:default"]["HealthCheckPath"] == HEALTH_PATH
    assert options["aws:elasticbeanstalk:healthreporting:system"]["SystemType"] == "enhanced"
    environment = options["aws:elasticbeanstalk:application:environment"]
    assert environment["DJANGO_SETTINGS_MODULE"] == "testproject.settings"
    # No secret is written into the bundle: they are environment properties.
    assert not {"SECRET_KEY", "DATABASE_URL"} & set(environment)


def test_elastic_beanstalk_procfile_runs_the_application(generated):
    lines = (generated["elasticbeanstalk"] / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines)
    assert list(processes) == ["web"]
    assert processes["web"].split()[:2] == ["gunicorn", "testproject.wsgi:application"]
    assert "127.0.0.1:8000" in processes["web"]  # behind the platform's nginx, which proxies to 8000


@pytest.mark.parametrize("system", ["github", "gitlab"])
def test_elastic_beanstalk_post_stage_after_the_health_check_and_rollback_order(generated, system):
    deploy = command_lines(pipeline_scripts(generated["elasticbeanstalk"], system, "deploy"))
    version = first(deploy, "aws elasticbeanstalk create-application-version")
    update = first(deploy, 'aws elasticbeanstalk update-environment --environment-name "$EB_ENVIRONMENT"')
    health = first(deploy, "aws elasticbeanstalk describe-environments")
    post = first(deploy, "safe_migrate --stage post")
    assert version < update < health < post
    assert '--version-label "$RELEASE"' in deploy[update]
    rollback = command_lines(pipeline_scripts(generated["elasticbeanstalk"], system, "rollback"))
    assert first(rollback, "rollback_release --noinput") < first(rollback, '--version-label "$previous"')


def test_elastic_beanstalk_run_script_runs_in_its_bundle(generated, tmp_path):
    """run.sh, started from anywhere, runs the command in the bundle it belongs to (/var/app/staging
    during a deployment, /var/app/current after it), without the platform's tools (here: none)."""
    need(not Path("/opt/elasticbeanstalk").exists(), "this machine is an Elastic Beanstalk instance")
    bundle = generated["elasticbeanstalk"]
    result = subprocess.run(
        ["bash", str(bundle / "deploy" / "elasticbeanstalk" / "run.sh"), "pwd"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == bundle.resolve()


# Shell


def shell_scripts(generated: dict[str, Path]) -> list[tuple[str, str]]:
    """(where, script) of every hook and every deploy and rollback script of these targets."""
    scripts = []
    for target, directory in generated.items():
        for path in sorted(directory.glob(".platform/hooks/*/*.sh")) + sorted(directory.glob("deploy/*/*.sh")):
            scripts.append((f"{target}: {path.relative_to(directory)}", path.read_text()))
        for system in ("github", "gitlab"):
            for job in ("deploy", "rollback"):
                for number, script in enumerate(pipeline_scripts(directory, system, job)):
                    scripts.append((f"{target}: {system} {job} script {number}", script))
    return scripts


def test_hooks_are_executable(generated):
    directory = generated["elasticbeanstalk"]
    for relative in (".platform/hooks/predeploy/01_django_cicd.sh", "deploy/elasticbeanstalk/run.sh"):
        assert os.access(directory / relative, os.X_OK), relative


def test_every_script_parses_with_bash(generated):
    problems = []
    for where, script in shell_scripts(generated):
        result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        if result.returncode:
            problems.append(f"{where}: {result.stderr}")
    assert problems == []


def shellcheck(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["shellcheck", "--shell=bash", "--format=gcc", "-"], input=script, capture_output=True, text=True, check=False
    )


def test_every_script_passes_shellcheck(generated):
    need(shutil.which("shellcheck") is not None, "shellcheck is not installed (apt-get install shellcheck)")
    problems = []
    for where, script in shell_scripts(generated):
        result = shellcheck(script)
        if result.returncode:
            problems.append(f"{where}:\n{result.stdout}")
    assert problems == []


def test_shellcheck_can_fail():
    need(shutil.which("shellcheck") is not None, "shellcheck is not installed (apt-get install shellcheck)")
    assert re.search(r"SC2086", shellcheck("rm -rf $DIRECTORY/build\n").stdout)
