"""The one place that talks to the Docker SDK: image digests, re-tags, Swarm services.

The SDK is an optional dependency (``pip install 'django-cicd[docker]'``), imported on first use. A
client is made only inside :func:`docker_client`'s block, once the engine's socket has answered, and
closed when the block ends: importing this module never needs an engine, and no call leaves a socket
open when none answers.

Images are pinned by content, never by a tag that may have moved:

- an image pulled from or pushed to a registry has a *repository digest* (``REPO@sha256:...``, the
  manifest's digest), which every node of a Swarm can pull;
- an image that only exists on this engine (built or ``docker import``-ed here, never pushed) has no
  repository digest; its *image id* (``sha256:...``, the digest of its configuration) pins it, and
  Docker accepts that id wherever an image reference goes.

:func:`resolve_image` returns the first when there is one, else the second; :func:`reference` turns
what the ledger recorded back into a reference Docker accepts.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django_cicd.extras import require

#: How often a waiter asks the engine again (seconds).
POLL_INTERVAL = 0.5


class ContainerError(Exception):
    """The engine, an image or a service is not as needed; one sentence saying what to do."""


#: Seconds the engine has to answer one request (and to accept the connection).
TIMEOUT = 60
_WHERE_TO_RUN = (
    "run where the engine's socket is mounted (-v /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST"
)


@contextlib.contextmanager
def docker_client() -> Iterator[Any]:
    """A Docker SDK client for the engine the environment names (DOCKER_HOST, DOCKER_TLS_VERIFY,
    DOCKER_CERT_PATH), made when the block is entered and closed when it ends, however it ends.

    Raises ContainerError, without making a client, when the engine's socket does not answer.
    """
    docker = require("docker")
    try:
        socket_path = _unix_socket(docker)
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot reach the Docker engine: {_first_line(exc)}; check DOCKER_HOST") from exc
    if socket_path is not None:
        _probe(socket_path)
    try:
        engine = docker.from_env(timeout=TIMEOUT)
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot reach the Docker engine ({_first_line(exc)}); {_WHERE_TO_RUN}") from exc
    try:
        yield engine
    finally:
        engine.close()


def _unix_socket(docker: Any) -> str | None:
    """The path of the engine's Unix socket, as the SDK reads it from the environment; None for TCP/SSH."""
    base_url = docker.utils.kwargs_from_env().get("base_url") or docker.constants.DEFAULT_UNIX_SOCKET
    url = str(docker.utils.parse_host(base_url, docker.constants.IS_WINDOWS_PLATFORM))
    return url[len("http+unix://") :] if url.startswith("http+unix://") else None


def _probe(path: str) -> None:
    """Connect to the engine's socket once, with a socket closed whatever happens.

    The SDK's Unix transport does not close its socket when connect() fails (docker-py pull request
    3356, open), so asking the SDK when no engine listens leaks one descriptor per attempt; asking here
    first means the SDK is only used once the socket has answered.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(TIMEOUT)
        try:
            probe.connect(path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ContainerError(
                f"cannot reach the Docker engine at unix://{path} ({reason}); {_WHERE_TO_RUN}"
            ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_engine(service: str | None = None) -> None:
    """Raise ContainerError unless the SDK is installed, the engine answers and has ``service``."""
    from django_cicd.extras import MissingExtra

    try:
        docker = require("docker")
    except MissingExtra as exc:
        raise ContainerError(str(exc)) from exc
    with docker_client() as engine:
        try:
            engine.ping()
            if service:
                engine.services.get(service)
        except docker.errors.NotFound as exc:
            raise ContainerError(f"there is no Swarm service {service!r} on this engine (docker service ls)") from exc
        except Exception as exc:
            raise ContainerError(f"the Docker engine does not answer: {_first_line(exc)}") from exc


def _repository(reference: str) -> str:
    """``registry:5000/shop:1.4`` -> ``registry:5000/shop`` (a port is not a tag)."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def resolve_image(reference: str) -> tuple[str, str]:
    """(repository, digest) of the local image ``reference``: its repository digest when it has one for
    that repository, else its image id. Raises ContainerError when the engine does not have it."""
    docker = require("docker")
    with docker_client() as engine:
        try:
            image = engine.images.get(reference)
        except docker.errors.ImageNotFound as exc:
            raise ContainerError(f"the Docker engine has no image {reference!r}; pull or build it first") from exc
        except docker.errors.APIError as exc:
            raise ContainerError(f"the Docker engine could not look up {reference!r}: {_first_line(exc)}") from exc
    return _pinned(image, reference)


def _pinned(image: Any, reference_: str) -> tuple[str, str]:
    repository = _repository(reference_)
    for repo_digest in image.attrs.get("RepoDigests") or []:
        name, _, digest = str(repo_digest).partition("@")
        if name == repository and digest:
            return repository, digest
    return reference_.split("@", 1)[0], str(image.id)


def reference(repository: str, digest: str, engine: Any | None = None) -> str:
    """A reference Docker accepts for what the ledger recorded: the image id when this engine has an
    image with that id, else ``REPO@DIGEST`` (a registry digest). A release recorded by its tag only is
    pinned now, as :func:`resolve_image` would have (the tag as recorded when the engine lacks it)."""
    if not digest:
        if engine is None:
            return repository
        docker = require("docker")
        try:
            found = engine.images.get(repository)
        except (docker.errors.ImageNotFound, docker.errors.APIError):
            return repository
        repository, digest = _pinned(found, repository)
        return digest if digest == found.id else f"{repository}@{digest}"
    if engine is not None:
        docker = require("docker")
        try:
            image = engine.images.get(digest)
        except (docker.errors.ImageNotFound, docker.errors.APIError):
            image = None
        if image is not None and image.id == digest:
            return digest
    return f"{_repository(repository)}@{digest}"


@dataclass
class SwitchOutcome:
    kind: str  # service, tag
    name: str
    image: str
    previous: str
    seconds: float
    replicas: int | None = None
    changed: bool = True

    @property
    def summary(self) -> str:
        if self.kind == "service":
            if not self.changed:
                return f"service {self.name} already runs {self.image}"
            return f"service {self.name} converged on {self.image} ({self.replicas} task(s) running)"
        return f"tagged {self.image} as {self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "image": self.image,
            "previous": self.previous,
            "changed": self.changed,
            "replicas": self.replicas,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
        }


def retag(repository: str, digest: str, target_repository: str, tag: str) -> SwitchOutcome:
    """Tag the recorded image as ``target_repository:tag`` (a plain Docker host restarts on that tag)."""
    docker = require("docker")
    started = time.monotonic()
    with docker_client() as engine:
        try:
            wanted = reference(repository, digest, engine)
            try:
                image = engine.images.get(wanted)
            except docker.errors.ImageNotFound as exc:
                raise ContainerError(
                    f"the image of the target release ({wanted}) is not on this engine; pull it first "
                    f"(docker pull {wanted})"
                ) from exc
            previous = ""
            with contextlib.suppress(docker.errors.ImageNotFound):
                previous = str(engine.images.get(f"{target_repository}:{tag}").id)
            if not image.tag(target_repository, tag):
                raise ContainerError(f"the Docker engine refused to tag {wanted} as {target_repository}:{tag}")
        except docker.errors.APIError as exc:
            raise ContainerError(f"the Docker engine failed: {_first_line(exc)}") from exc
    return SwitchOutcome(
        "tag", f"{target_repository}:{tag}", wanted, previous, time.monotonic() - started, changed=previous != image.id
    )


def switch_service(name: str, repository: str, digest: str, *, timeout: float = 300.0) -> SwitchOutcome:
    """Update Swarm service ``name`` to the recorded image and wait until it has converged.

    Only the image of the service's current spec changes (its environment, secrets, mounts and update
    policy stay). Converged: the update is ``completed`` and every desired task runs the image. Raises
    ContainerError when the service is missing, the update is paused or rolled back by Swarm, or
    ``timeout`` seconds pass.
    """
    docker = require("docker")
    started = time.monotonic()
    with docker_client() as engine:
        try:
            try:
                service = engine.services.get(name)
            except docker.errors.NotFound as exc:
                raise ContainerError(f"there is no Swarm service {name!r} on this engine (docker service ls)") from exc
            wanted = reference(repository, digest, engine)
            task_template = dict(service.attrs["Spec"]["TaskTemplate"])
            container_spec = dict(task_template["ContainerSpec"])
            previous = str(container_spec.get("Image", ""))
            if previous == wanted:
                return SwitchOutcome(
                    "service", name, wanted, previous, time.monotonic() - started, _replicas(service), changed=False
                )
            container_spec["Image"] = wanted
            task_template["ContainerSpec"] = container_spec
            engine.api.update_service(service.id, service.version, task_template=task_template, fetch_current_spec=True)
            replicas = _wait_converged(engine, name, wanted, started + timeout, timeout)
        except docker.errors.APIError as exc:
            raise ContainerError(f"the Docker engine refused to update service {name!r}: {_first_line(exc)}") from exc
    return SwitchOutcome("service", name, wanted, previous, time.monotonic() - started, replicas)


def _replicas(service: Any) -> int | None:
    mode = service.attrs["Spec"].get("Mode", {})
    replicated = mode.get("Replicated")
    return int(replicated.get("Replicas", 1)) if replicated else None


def _wait_converged(engine: Any, name: str, image: str, deadline: float, timeout: float) -> int:
    state = "unknown"
    running = 0
    while True:
        service = engine.services.get(name)
        state = str((service.attrs.get("UpdateStatus") or {}).get("State", "completed"))
        if state in {"paused", "rollback_started", "rollback_paused", "rollback_completed"}:
            message = (service.attrs.get("UpdateStatus") or {}).get("Message", "")
            raise ContainerError(
                f"Swarm did not converge service {name!r} on {image}: update {state} ({message}); "
                f"see docker service ps {name}"
            )
        tasks = service.tasks(filters={"desired-state": "running"})
        running = sum(
            1
            for task in tasks
            if task["Status"]["State"] == "running" and task["Spec"]["ContainerSpec"]["Image"] == image
        )
        desired = _replicas(service)
        stale = [t for t in tasks if t["Spec"]["ContainerSpec"]["Image"] != image]
        if state == "completed" and not stale and running >= (desired if desired is not None else 1):
            return running
        if time.monotonic() >= deadline:
            raise ContainerError(
                f"service {name!r} did not converge on {image} within {timeout:g} seconds ({running} task(s) "
                f"running it, update {state}); see docker service ps {name}"
            )
        time.sleep(POLL_INTERVAL)


def pin(reference_: str) -> tuple[str, str, str]:
    """(repository, digest, note) for ``REPO:TAG`` recorded by safe_migrate: pinned to the local image's
    digest when the SDK is installed and the engine has the image, else left as the tag, with a note
    saying why (a one-off migrate container usually has no engine socket; that is fine)."""
    from django_cicd.extras import MissingExtra

    try:
        repository, digest = resolve_image(reference_)
    except MissingExtra:
        return reference_, "", ""
    except ContainerError as exc:
        return reference_, "", f"image {reference_} recorded by its tag, not pinned to a digest: {exc}"
    return repository, digest, f"image {reference_} pinned to {digest}"
