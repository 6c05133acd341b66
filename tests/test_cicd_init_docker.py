"""The generated Dockerfile builds and runs on the real Docker engine, for testproject and for a
project fresh from ``django-admin startproject``: non-root, REVISION baked in, healthy, serving pages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import pytest

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


def test_testproject_image(docker, cleanup, tmp_path):
    shutil.copytree(ROOT / "testproject", tmp_path / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    dt.vendor_django_cicd(tmp_path)
    (tmp_path / "requirements.txt").write_text(dt.REQUIREMENTS)
    project = detect_project(tmp_path, settings_module="testproject.settings", vendor="sqlite", python_version="3.11")
    write_files(render_files(project), tmp_path)

    revision = uuid.uuid4().hex
    tag = f"django-cicd-test/testproject:{revision[:12]}"
    cleanup.append(("image", tag))
    dt.build(docker, tmp_path, tag, revision)

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
