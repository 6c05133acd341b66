"""django_cicd.containers where no Docker engine answers: every entry point says so in one sentence and
leaves no socket open. These tests never reach an engine (DOCKER_HOST names a socket nobody serves),
so they are not marked ``docker``; the engine itself is tested in test_rollback_docker.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from django.db import connections

from django_cicd import containers
from tests.utils import run_command


def _open_sockets() -> set[str]:
    fds = Path("/proc/self/fd")
    found = set()
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
        except OSError:  # the directory's own descriptor, closed by the time it is read
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.fixture(params=["missing", "refusing"])
def dead_engine(request, tmp_path, monkeypatch):
    """DOCKER_HOST naming a socket file that does not exist, or one that exists with nobody listening."""
    path = tmp_path / "docker.sock"
    if request.param == "refusing":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
            bound.bind(str(path))  # bound, never listened on, then closed: connect() is refused
        assert path.exists()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


@pytest.fixture
def no_socket_left():
    """The test opens no socket that outlives it (a leaked one also fails as an unraisable ResourceWarning).
    Django's database connections (sockets on PostgreSQL and MariaDB) are closed before each count."""
    connections.close_all()
    before = _open_sockets()
    yield
    connections.close_all()
    assert _open_sockets() - before == set()


def test_pin_records_the_tag_and_says_why(dead_engine, no_socket_left):
    repository, digest, note = containers.pin("registry.example.com/shop:1.4")
    assert (repository, digest) == ("registry.example.com/shop:1.4", "")
    assert note.startswith(
        f"image registry.example.com/shop:1.4 recorded by its tag, not pinned to a digest: "
        f"cannot reach the Docker engine at unix://{dead_engine} ("
    )
    assert note.endswith("run where the engine's socket is mounted (-v /var/run/docker.sock:/var/run/docker.sock) "
                         "or set DOCKER_HOST")  # fmt: skip


def test_every_entry_point_raises_one_sentence(dead_engine, no_socket_left):
    calls = [
        lambda: containers.check_engine(),
        lambda: containers.check_engine("shop_web"),
        lambda: containers.resolve_image("shop:1.4"),
        lambda: containers.retag("shop", "sha256:" + "a" * 64, "shop", "current"),
        lambda: containers.switch_service("shop_web", "shop", "sha256:" + "a" * 64),
    ]
    for call in calls:
        with pytest.raises(
            containers.ContainerError, match=f"^cannot reach the Docker engine at unix://{dead_engine} "
        ):
            call()


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_rollback_with_an_image_switch_stops_before_the_database(dead_engine, no_socket_left):
    _, stderr, code = run_command("rollback_release", "--noinput", "--docker-image", "shop")
    assert code == 2
    assert f"cannot reach the Docker engine at unix://{dead_engine} (" in stderr
    assert "nothing was rolled back" in stderr
