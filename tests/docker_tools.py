"""Helpers for the tests that build and run the generated Dockerfile on the real Docker engine.

No registry can be reached here: the base image is a local one (`.ci/base-image.sh`: debootstrap
bookworm + python3, `docker import`), passed as the BASE_IMAGE build argument. PyPI answers inside
a build only with the host's CA bundle, which the tests hand to pip as the optional BuildKit secret
``pip_cert`` that the generated Dockerfile accepts (a user behind a TLS-inspecting proxy does the same).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.utils import ROOT, need

BASE_IMAGE = os.environ.get("CICD_TEST_BASE_IMAGE", "django-cicd/debian-python:bookworm")
#: The requirements a scaffolded test project installs from PyPI inside the build. The base image's
#: Python is Debian bookworm's 3.11, and Django 6 needs 3.12: Django 5.2 is the newest it runs.
REQUIREMENTS = "Django>=5.2,<6\ndjango-environ>=0.14\ndjango-dbbackup>=5.4\ngunicorn>=23\n"


def docker_binary() -> str | None:
    # Debian's client talks to the daemon's BuildKit itself; a newer client on PATH may want buildx.
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


def require_docker() -> str:
    """The docker client, with a running engine; in CI a missing engine fails, elsewhere it skips."""
    binary = docker_binary()
    problem = None
    if binary is None:
        problem = "no docker client is installed"
    else:
        # `docker version` names the engine it could not reach; Debian's `docker info` says only
        # "errors pretty printing info".
        version = subprocess.run(
            [binary, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if version.returncode != 0:
            problem = f"the Docker engine does not answer ({version.stderr.strip()[:200]})"
    need(problem is None, f"{problem}; start it with: bash .ci/docker.sh")
    assert binary is not None
    return binary


def require_swarm(docker: str) -> None:
    """The engine is a Swarm manager (``.ci/docker.sh`` runs ``docker swarm init``)."""
    state = docker_run(docker, "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    need(state == "active", f"the engine is not a Swarm manager (state {state!r}); run: bash .ci/docker.sh")


def ensure_base_image(docker: str) -> str:
    found = subprocess.run([docker, "image", "inspect", BASE_IMAGE], capture_output=True, check=False)
    if found.returncode != 0:
        script = ROOT / ".ci" / "base-image.sh"
        built = subprocess.run(["bash", str(script), BASE_IMAGE], capture_output=True, text=True, check=False)
        if built.returncode != 0:
            pytest.fail(f"could not make the base image {BASE_IMAGE} with {script}: {built.stderr[-2000:]}")
    return BASE_IMAGE


def ca_bundle() -> str:
    for candidate in (os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and os.path.isfile(candidate):
            return candidate
    pytest.fail("no CA bundle for pip inside the build (set PIP_CERT)")


def vendor_django_cicd(directory: Path) -> None:
    """Put this checkout's django_cicd beside the project (it is not on PyPI in this version)."""
    shutil.copytree(
        ROOT / "django_cicd", directory / "django_cicd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )


def docker_run(docker: str, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([docker, *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def build(docker: str, directory: Path, tag: str, revision: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    command = [
        docker, "build", "--progress=plain",
        "--build-arg", f"BASE_IMAGE={ensure_base_image(docker)}",
        "--build-arg", f"REVISION={revision}",
        "--secret", f"id=pip_cert,src={ca_bundle()}",
        "--tag", tag, str(directory),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1200, env=env)
    if result.returncode != 0:
        raise AssertionError(f"docker build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def inspect(docker: str, name: str) -> dict:
    return json.loads(docker_run(docker, "inspect", name).stdout)[0]


def wait_until_healthy(docker: str, container: str, attempts: int = 120) -> str:
    """Poll the container's health status (bounded: ``attempts`` half-second polls)."""
    status = "unknown"
    for _ in range(attempts):
        state = inspect(docker, container)["State"]
        status = state.get("Health", {}).get("Status", "none")
        if status == "healthy" or not state["Running"]:
            return status
        time.sleep(0.5)
    return status


def get(url: str, host: str = "localhost") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def published_port(docker: str, container: str) -> int:
    mapping = docker_run(docker, "port", container, "8000/tcp").stdout.split()[0]
    return int(mapping.rsplit(":", 1)[1])


def wait_for(probe, *, until, seconds: float, interval: float = 1.0):
    """Call ``probe`` (bounded: ``seconds``, one call per ``interval``) until ``until(result)``; the last result."""
    deadline = time.monotonic() + seconds
    result = probe()
    while not until(result) and time.monotonic() < deadline:
        time.sleep(interval)
        result = probe()
    return result
