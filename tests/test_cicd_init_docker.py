"""The generated Dockerfile builds and runs on the real Docker engine, for testproject and for a
project fresh from ``django-admin startproject``: non-root, REVISION baked in, healthy, serving pages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
import yaml

from django_cicd.scaffold import detect_project, render_files, write_files
from tests import docker_tools as dt
from tests.utils import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUNTIME_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "container-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of the test container
    "DATABASE_URL": "sqlite:////data/db.sqlite3",
}


@pytest.fixture(scope="module")
def docker():
    return dt.require_docker()


@pytest.fixture
def cleanup(docker):
    names: list[tuple[str, str]] = []
    yield names
    for kind, name in reversed(names):
        dt.docker_run(docker, kind, "rm", "--force", name, check=False)


def env_flags(env):
    return [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]


def start(docker, cleanup, image, *extra):
    name = f"cicd-test-{uuid.uuid4().hex[:10]}"
    cleanup.append(("container", name))
    dt.docker_run(
        docker, "run", "--detach", "--name", name, "--publish", "127.0.0.1::8000",
        "--health-interval", "1s", "--health-start-period", "60s", *extra, image,
    )  # fmt: skip
    return name


def build_testproject(docker, cleanup, directory):
    """testproject with the files cicd_init writes for it, built into an image; returns (tag, revision)."""
    shutil.copytree(ROOT / "testproject", directory / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", directory / "manage.py")
    dt.vendor_django_cicd(directory)
    (directory / "requirements.txt").write_text(dt.REQUIREMENTS)
    project = detect_project(directory, settings_module="testproject.settings", vendor="sqlite", python_version="3.11")
    write_files(render_files(project), directory)

    revision = uuid.uuid4().hex
    tag = f"django-cicd-test/testproject:{revision[:12]}"
    cleanup.append(("image", tag))
    dt.build(docker, directory, tag, revision)
    return tag, revision


def test_testproject_image(docker, cleanup, tmp_path):
    tag, revision = build_testproject(docker, cleanup, tmp_path)

    config = dt.inspect(docker, tag)["Config"]
    assert config["User"] == "app:app"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "/app/docker/healthcheck.py"]
    assert config["Labels"]["org.opencontainers.image.revision"] == revision
    assert dt.docker_run(docker, "run", "--rm", tag, "cat", "/app/REVISION").stdout == f"{revision}\n"
    # collectstatic ran at build time, with the manifest (ManifestStaticFilesStorage).
    listing = dt.docker_run(docker, "run", "--rm", tag, "ls", "/app/var/static").stdout.split()
    assert "staticfiles.json" in listing and "css" in listing

    volume = f"cicd-test-{uuid.uuid4().hex[:10]}"
    cleanup.append(("volume", volume))
    mount = ["--volume", f"{volume}:/data"]
    dt.docker_run(docker, "run", "--rm", *mount, *env_flags(RUNTIME_ENV), tag, "python", "manage.py", "migrate")
    container = start(docker, cleanup, tag, *mount, *env_flags(RUNTIME_ENV))

    assert dt.wait_until_healthy(docker, container) == "healthy", dt.docker_run(docker, "logs", container).stderr
    assert dt.docker_run(docker, "exec", container, "id", "-un").stdout.strip() == "app"
    assert dt.docker_run(docker, "exec", container, "id", "-u").stdout.strip() == "10001"
    port = dt.published_port(docker, container)
    status, body = dt.get(f"http://127.0.0.1:{port}/")
    assert status == 200
    assert "<html" in body.lower()
    status, body = dt.get(f"http://127.0.0.1:{port}/healthz")
    assert (status, body) == (200, '{"status": "ok"}')
    # The entrypoint never migrates: the log has the release line and gunicorn, nothing else.
    logs = dt.docker_run(docker, "logs", container).stderr
    assert f"release {revision}" in logs
    assert "Applying" not in logs


def test_fresh_startproject_image(docker, cleanup, tmp_path):
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)], check=True)
    settings = tmp_path / "mysite" / "settings.py"
    # The one line the install guide asks for; the rest is startproject's output, untouched.
    settings.write_text(settings.read_text() + '\nINSTALLED_APPS += ["django_cicd"]\n')
    dt.vendor_django_cicd(tmp_path)
    (tmp_path / "requirements.txt").write_text(dt.REQUIREMENTS)
    # As a user would: manage.py cicd_init, in the project, with its own settings.
    result = subprocess.run(
        [sys.executable, "manage.py", "cicd_init", "--python", "3.11"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created  Dockerfile" in result.stdout
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "DJANGO_SETTINGS_MODULE=mysite.settings" in dockerfile
    assert '"mysite.wsgi:application"' in dockerfile

    tag = f"django-cicd-test/mysite:{uuid.uuid4().hex[:12]}"
    cleanup.append(("image", tag))
    dt.build(docker, tmp_path, tag, "fresh")
    container = start(docker, cleanup, tag)
    assert dt.wait_until_healthy(docker, container) == "healthy", dt.docker_run(docker, "logs", container).stderr
    assert dt.docker_run(docker, "exec", container, "id", "-un").stdout.strip() == "app"
    status, body = dt.get(f"http://127.0.0.1:{dt.published_port(docker, container)}/admin/login/")
    assert status == 200
    assert "Django administration" in body


def test_swarm_stack_file_deploys_as_written(docker, cleanup, tmp_path):
    """deploy/swarm/stack.yml, unchanged, through ``docker stack deploy`` on the single-node Swarm:
    the secrets it names are read through the ``_FILE`` variables, both replicas become healthy, and
    the service has the update and rollback policy the file declares.

    The request through the published port is not made here: the Swarm routing mesh (ingress) does
    not forward on this machine's engine, and a test of the file must not depend on it. The health
    check inside each container does request the page.
    """
    dt.require_swarm(docker)
    tag, _ = build_testproject(docker, cleanup, tmp_path)
    stack_file = tmp_path / "deploy" / "swarm" / "stack.yml"
    secret_key = f"stack-test-{uuid.uuid4().hex}-{uuid.uuid4().hex}"
    secrets = {"secret_key": secret_key, "database_url": "sqlite:////data/db.sqlite3"}
    stack = f"cicdtest{uuid.uuid4().hex[:8]}"
    try:
        for name, value in secrets.items():
            dt.docker_run(docker, "secret", "rm", name, check=False)  # a leftover of a killed run
            created = subprocess.run(
                [docker, "secret", "create", name, "-"], input=value, capture_output=True, text=True, check=False
            )
            assert created.returncode == 0, f"docker secret create {name}: {created.stderr}"
        deploy = subprocess.run(
            [docker, "stack", "deploy", "--compose-file", str(stack_file), stack],
            env={**os.environ, "IMAGE": tag, "ALLOWED_HOSTS": "localhost,127.0.0.1"},
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr

        def healthy_containers():
            listed = dt.docker_run(
                docker, "ps", "--filter", f"label=com.docker.stack.namespace={stack}", "--format", "{{.ID}} {{.Status}}"
            ).stdout.splitlines()
            return [line.split()[0] for line in listed if "(healthy)" in line]

        healthy = dt.wait_for(healthy_containers, until=lambda ids: len(ids) == 2, seconds=240)
        service = f"{stack}_web"
        assert len(healthy) == 2, dt.docker_run(docker, "service", "ps", "--no-trunc", service, check=False).stdout

        spec = json.loads(dt.docker_run(docker, "service", "inspect", service).stdout)[0]["Spec"]
        assert spec["Mode"]["Replicated"]["Replicas"] == 2
        assert spec["UpdateConfig"]["Order"] == "start-first"
        assert spec["UpdateConfig"]["FailureAction"] == "rollback"
        assert spec["RollbackConfig"]["Order"] == "start-first"
        # The settings read the secrets from the files Swarm mounted (SECRET_KEY_FILE, DATABASE_URL_FILE).
        shown = dt.docker_run(
            docker, "exec", healthy[0], "python", "manage.py", "shell", "-c",
            f"from django.conf import settings; print(settings.SECRET_KEY == {secret_key!r}, "
            "settings.DATABASES['default']['NAME'])",
        ).stdout.splitlines()  # fmt: skip
        assert shown[-1].split() == ["True", "/data/db.sqlite3"]  # after the shell's "N objects imported" line
        assert dt.docker_run(docker, "exec", healthy[0], "id", "-un").stdout.strip() == "app"
    finally:
        dt.docker_run(docker, "stack", "rm", stack, check=False)
        # A secret can be removed once no task uses it any more: wait (bounded) for the containers to go.
        dt.wait_for(
            lambda: dt.docker_run(
                docker, "ps", "--all", "--quiet", "--filter", f"label=com.docker.stack.namespace={stack}"
            ).stdout.strip(),
            until=lambda out: not out,
            seconds=120,
        )
        for name in secrets:
            dt.wait_for(
                lambda name=name: dt.docker_run(docker, "secret", "rm", name, check=False).returncode,
                until=lambda code: code == 0,
                seconds=60,
            )


#: A stand-in release for the health check test: a tiny HTTP server with a HEALTHCHECK (``check``),
#: made from the local base image in a second (no project to build, no PyPI).
PROBE_DOCKERFILE = """FROM {base}
LABEL org.opencontainers.image.version={version}
CMD ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"]
HEALTHCHECK --interval=1s --timeout=2s --start-period={start}s --retries=2 CMD {check}
"""
PROBE_ANSWERS = (
    """["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=1)"]"""
)


def test_the_swarm_health_check_catches_an_update_swarm_rolled_back(docker, cleanup, tmp_path):
    """The generated deploy job's rollout and health check steps, run as written against a service on
    the single-node Swarm with the stack file's update policy (start-first, failure_action rollback).

    ``docker service update --detach=false`` waits for the update and exits 0 even when Swarm rolled
    it back because the new task failed its health check: the health check step is what fails the
    deploy then, before the post-deploy stage runs. An update that converged passes it.
    """
    dt.require_swarm(docker)
    base = dt.ensure_base_image(docker)
    images = {}
    for name, check, start in (("v1", PROBE_ANSWERS, 20), ("v2", PROBE_ANSWERS, 20), ("broken", '["false"]', 1)):
        tag = f"django-cicd-test/probe:{name}-{uuid.uuid4().hex[:8]}"
        cleanup.append(("image", tag))
        dockerfile = PROBE_DOCKERFILE.format(base=base, version=name, check=check, start=start)
        built = subprocess.run(
            [docker, "build", "--tag", tag, "-"], input=dockerfile, capture_output=True, text=True, timeout=300
        )
        assert built.returncode == 0, built.stderr
        images[name] = dt.inspect(docker, tag)["Id"]

    project = detect_project(tmp_path, settings_module="testproject.settings", targets=["swarm"])
    workflow = next(f for f in render_files(project) if f.path == ".github/workflows/deploy.yml")
    steps = {s.get("id"): s.get("run") for s in yaml.safe_load(workflow.content)["jobs"]["deploy"]["steps"]}
    service = f"cicd-test-health-{uuid.uuid4().hex[:8]}"

    def step(name: str, image: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SERVICE": service, "IMAGE": image}
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", steps[name]],
            env=env, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip

    try:
        dt.docker_run(
            docker, "service", "create", "--detach=false", "--quiet", "--name", service, "--replicas", "1",
            "--update-order", "start-first", "--update-failure-action", "rollback", "--update-monitor", "5s",
            "--rollback-order", "start-first", images["v1"],
        )  # fmt: skip

        rollout, health = step("rollout", images["v2"]), step("health", images["v2"])
        assert rollout.returncode == 0, rollout.stdout + rollout.stderr
        assert health.returncode == 0, health.stdout + health.stderr
        assert health.stdout.startswith("Running ")

        rollout, health = step("rollout", images["broken"]), step("health", images["broken"])
        states = dt.docker_run(
            docker, "service", "ps", "--no-trunc", "--format", "{{.Image}} {{.CurrentState}}", service
        )
        assert health.returncode == 1, f"{rollout.stdout}{rollout.stderr}\n{health.stdout}{health.stderr}"
        assert f"{service} runs {images['v2']}, not {images['broken']}" in health.stderr, health.stderr
        assert "rollback" in health.stderr, health.stderr  # the update state, e.g. rollback_completed
        assert f"{images['broken']} Failed" in states.stdout  # it did fail its health check
    finally:
        dt.docker_run(docker, "service", "rm", service, check=False)
