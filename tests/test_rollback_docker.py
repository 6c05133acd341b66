"""rollback_release against the real Docker engine and its single-node Swarm: the database goes back
first, then the service converges on the previous release's image, pinned by content (the images here
exist only on this engine, built from the local base image: no registry, so their image ids pin them)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from django_cicd import containers
from django_cicd.models import Release
from tests import docker_tools as dt
from tests.scenarios.rollback.helpers import code, reset, schema
from tests.utils import run_command

pytestmark = [pytest.mark.docker, pytest.mark.django_db(databases="__all__", transaction=True)]


@pytest.fixture(scope="module")
def docker():
    binary = dt.require_docker()
    dt.require_swarm(binary)
    return binary


@pytest.fixture(scope="module")
def images(docker):
    """Two releases' images (distinct ids), made from the base image with a label and a long sleep."""
    base = dt.ensure_base_image(docker)
    prefix = f"rollback-{uuid.uuid4().hex[:8]}/app"
    made = {}
    for release in ("r1", "r2"):
        dockerfile = f'FROM {base}\nLABEL org.opencontainers.image.revision={release}\nCMD ["sleep", "infinity"]\n'
        tag = f"{prefix}:{release}"
        subprocess.run(
            [docker, "build", "--quiet", "--tag", tag, "-"],
            input=dockerfile,
            text=True,
            check=True,
            capture_output=True,
            timeout=600,
        )
        made[release] = (tag, dt.inspect(docker, tag)["Id"])
    yield made
    for tag, _ in made.values():
        dt.docker_run(docker, "image", "rm", "--force", tag, check=False)
    dt.docker_run(docker, "image", "rm", "--force", f"{prefix}:current", check=False)


@pytest.fixture
def service(docker, images):
    name = f"rollback-{uuid.uuid4().hex[:10]}"
    dt.docker_run(docker, "service", "create", "--detach", "--name", name, "--replicas", "1", images["r2"][1])
    yield name
    dt.docker_run(docker, "service", "rm", name, check=False)


@pytest.fixture(autouse=True)
def _clean_database():
    reset()
    yield
    reset()


def _deploy(name, image, **release):
    with code(**release):
        stdout, stderr, exit_code = run_command("safe_migrate", "--release", name, "--image", image, "--format", "json")
    assert exit_code == 0, stdout + stderr
    return json.loads(stdout)


def _two_releases(images):
    document = _deploy("r1", images["r1"][0])
    assert f"image {images['r1'][0]} pinned to {images['r1'][1]}" in document["notes"]
    after_r1 = schema()
    _deploy("r2", images["r2"][0], catalog="catalog_next")
    return after_r1


def test_swarm_service_goes_back_to_the_previous_image_after_the_database(docker, images, service):
    after_r1 = _two_releases(images)
    r1 = Release.objects.get(name="r1")
    assert (r1.image_repository, r1.image_digest) == images["r1"]
    with code(catalog="catalog_next"):
        stdout, stderr, exit_code = run_command(
            "rollback_release", "--noinput", "--format", "json", "--docker-service", service
        )
    assert exit_code == 0, stdout + stderr
    document = json.loads(stdout)
    assert schema() == after_r1
    switch = document["image_switch"]
    assert switch["ok"] and switch["kind"] == "service" and switch["changed"]
    assert switch["image"] == images["r1"][1] and switch["previous"] == images["r2"][1]
    assert switch["replicas"] == 1
    spec = dt.inspect(docker, service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["Image"] == images["r1"][1]
    running = dt.docker_run(
        docker,
        "service",
        "ps",
        service,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ).stdout.split("\n")[0]
    assert running.startswith((images["r1"][1], images["r1"][0]))
    assert "Running" in running
    row = Release.objects.get(kind="rollback")
    assert row.status == "succeeded" and row.details["image_switch"]["image"] == images["r1"][1]
    assert Release.objects.get(name="r2").status == "rolled_back"


def test_plain_docker_host_retags_the_previous_image(docker, images):
    _two_releases(images)
    repository = images["r1"][0].rsplit(":", 1)[0]
    with code(catalog="catalog_next"):
        stdout, stderr, exit_code = run_command(
            "rollback_release", "--noinput", "--format", "json", "--docker-image", repository
        )
    assert exit_code == 0, stdout + stderr
    assert json.loads(stdout)["image_switch"]["name"] == f"{repository}:current"
    assert dt.inspect(docker, f"{repository}:current")["Id"] == images["r1"][1]


def test_a_missing_service_is_found_before_the_database_changes(docker, images):
    _two_releases(images)
    before = schema()
    with code(catalog="catalog_next"):
        _, stderr, exit_code = run_command("rollback_release", "--noinput", "--docker-service", "rollback-missing")
    assert exit_code == 2
    assert stderr == (
        "CommandError: there is no Swarm service 'rollback-missing' on this engine (docker service ls); "
        "nothing was rolled back\n"
    )
    assert schema() == before


def test_resolve_and_reference(images):
    tag, image_id = images["r1"]
    assert containers.resolve_image(tag) == (tag, image_id)
    with containers.docker_client() as engine:
        assert containers.reference(tag, image_id, engine) == image_id
        # Recorded by its tag only (safe_migrate ran without an engine): pinned at the switch.
        assert containers.reference(tag, "", engine) == image_id
        assert containers.reference("rollback-none:1", "", engine) == "rollback-none:1"
        assert containers.reference("registry.example.com:5000/shop:1", "sha256:" + "a" * 64, engine) == (
            "registry.example.com:5000/shop@sha256:" + "a" * 64
        )
    with pytest.raises(containers.ContainerError, match="the Docker engine has no image 'rollback-none:1'"):
        containers.resolve_image("rollback-none:1")
