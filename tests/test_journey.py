"""The whole journey, on a real Docker engine with a single-node Swarm and a real PostgreSQL:

cicd_init writes the files into a copy of testproject; image v1 is built from the generated
Dockerfile; predeploy runs in it; safe_migrate applies release v1 (image pinned by id) in its two
stages around the start of the Swarm service. Release v2 adds a migration: it is rehearsed,
applied by safe_migrate's pre-deploy stage, the service is updated, the generated health check
step passes, and the post-deploy stage finds nothing left. Then rollback_release --docker-service
brings the schema and the service back to v1, and the ledger shows the three steps. Every step runs
as the generated pipeline runs it: a one-off container of the release's image, the variables passed
by name (``-e NAME``); the health check is the generated step's own script.

No registry can be reached here, so images are built locally (see tests/docker_tools.py) and pinned
by image id, which Docker accepts wherever a reference goes; a pushed image would be pinned by its
repository digest, as the generated pipelines do. Containers use the host's network: PostgreSQL
listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from django.db import connections

from tests import docker_tools as dt
from tests.utils import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: The image needs the database driver and, for rollback_release --docker-service, the Docker SDK.
REQUIREMENTS = dt.REQUIREMENTS + "psycopg[binary]>=3.2\ndocker>=7.1\n"
SECRET_KEY = "journey-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
V2_MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_remove_product_legacy_code")]

    operations = [
        migrations.AddField("product", "subtitle", models.CharField(max_length=200, null=True, blank=True)),
    ]
"""


def _server() -> dict:
    settings = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        pytest.skip(
            "the journey runs on PostgreSQL only (the release ledger, pg_dump backups and a database the "
            "containers reach on 127.0.0.1): run it with DATABASE_URL=postgres://..."
        )
    return settings


def _admin(settings: dict, sql: str) -> None:
    import psycopg

    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(sql)


def _query(settings: dict, database: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, user=settings["USER"],
        password=settings["PASSWORD"] or None, dbname=database,
    ) as conn:  # fmt: skip
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str = "/") -> tuple[int, str]:
    """GET through "the proxy" (X-Forwarded-Proto: https), as production's settings expect."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost", "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        return 0, str(exc)


class Journey:
    """The state of one run: names (all prefixed ``journey-``), the environment, and docker helpers."""

    def __init__(self, docker: str, settings: dict, tmp_path: Path) -> None:
        run = uuid.uuid4().hex[:8]
        self.docker = docker
        self.settings = settings
        self.database = f"{settings['NAME']}_journey"[:63]
        self.repository = "journey-testproject"
        self.service = f"journey-web-{run}"
        self.run = run
        self.port = _free_port()
        self.backups = tmp_path / "backups"
        self.backups.mkdir()
        self.backups.chmod(0o777)  # the image's app user (uid 10001) writes the backups
        host = settings["HOST"] or "127.0.0.1"
        auth = quote(settings["USER"] or "")
        if settings["PASSWORD"]:
            auth += ":" + quote(settings["PASSWORD"])
        self.env = {
            "DJANGO_ENV": "production",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "DATABASE_URL": f"postgres://{auth}@{host}:{settings['PORT'] or 5432}/{self.database}",
            "BACKUP_DIR": "/backups",
            "PORT": str(self.port),
        }
        self.images: list[str] = []

    def docker_run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return dt.docker_run(self.docker, *args, check=check, timeout=timeout)

    def one_off(self, image: str, *command: str, root: bool = False) -> subprocess.CompletedProcess[str]:
        """``docker run --rm -e NAME ... IMAGE python manage.py ...`` as the pipeline runs it: the
        variables by name, their values from this process's environment."""
        flags = [flag for name in self.env for flag in ("-e", name)]
        extra = ["--user", "root", "-v", "/var/run/docker.sock:/var/run/docker.sock"] if root else []
        return subprocess.run(
            [self.docker, "run", "--rm", "--network", "host", *flags, *extra,
             "-v", f"{self.backups}:/backups", image, "python", "manage.py", *command],
            capture_output=True, text=True, check=False, timeout=900, env={**os.environ, **self.env},
        )  # fmt: skip

    def stage(self, stage: str, release: str, image_id: str) -> tuple[str, ...]:
        """``safe_migrate --stage STAGE --release R --image REPO@ID``: the deploy job's two stages."""
        return ("safe_migrate", "--stage", stage, "--release", release, "--image", f"{self.repository}@{image_id}")

    def pipeline_step(self, project: Path, step_id: str, *, image: str) -> subprocess.CompletedProcess[str]:
        """A step of the generated GitHub deploy job, its script as written, against this engine."""
        workflow = yaml.safe_load((project / ".github" / "workflows" / "deploy.yml").read_text())
        (script,) = [step["run"] for step in workflow["jobs"]["deploy"]["steps"] if step.get("id") == step_id]
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "SERVICE": self.service}
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script], env={**env, "IMAGE": image},
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip

    def build(self, directory: Path, release: str) -> str:
        tag = f"{self.repository}:{release}-{self.run}"
        self.images.append(tag)
        dt.build(self.docker, directory, tag, f"{release}-{self.run}")
        return str(dt.inspect(self.docker, tag)["Id"])

    def running_images(self) -> list[str]:
        """Image ids of the service's running containers on this (single) node."""
        listing = self.docker_run(
            "ps", "--filter", f"label=com.docker.swarm.service.name={self.service}", "--format", "{{.ID}}"
        ).stdout.split()
        return [str(dt.inspect(self.docker, container)["Image"]) for container in listing]

    def wait_serving(self, image_id: str, marker: str, attempts: int = 180) -> tuple[int, str]:
        """Poll (bounded, one second apart) until the service runs only ``image_id`` and its page
        shows ``marker``; return the last answer, which the caller asserts on."""
        answer: tuple[int, str] = (0, "")
        for _ in range(attempts):
            if self.running_images() == [image_id]:
                answer = _get(self.port)
                if answer[0] == 200 and marker in answer[1]:
                    return answer
            time.sleep(1)
        return answer

    def diagnose(self) -> str:
        """What the service did, for an assertion message."""
        tasks = self.docker_run("service", "ps", "--no-trunc", self.service, check=False)
        logs = self.docker_run("service", "logs", "--raw", "--tail", "40", self.service, check=False)
        return f"{tasks.stdout}{tasks.stderr}\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"

    def service_image(self) -> str:
        spec = json.loads(self.docker_run("service", "inspect", self.service).stdout)[0]["Spec"]
        return str(spec["TaskTemplate"]["ContainerSpec"]["Image"])

    def ledger(self) -> list[tuple]:
        return _query(
            self.settings,
            self.database,
            "SELECT kind, name, status, image_repository, image_digest FROM django_cicd_release ORDER BY id",
        )

    def columns(self, table: str) -> set[str]:
        rows = _query(
            self.settings,
            self.database,
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'",
        )
        return {row[0] for row in rows}

    def cleanup(self) -> None:
        self.docker_run("service", "rm", self.service, check=False)
        # The service's containers go away asynchronously; wait (bounded) before dropping the database.
        for _ in range(60):
            if not self.running_images():
                break
            time.sleep(1)
        for tag in self.images:
            self.docker_run("image", "rm", "--force", tag, check=False)
        _admin(self.settings, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@pytest.fixture
def journey(tmp_path):
    settings = _server()
    docker = dt.require_docker()
    dt.require_swarm(docker)
    state = Journey(docker, settings, tmp_path)
    _admin(settings, f'DROP DATABASE IF EXISTS "{state.database}" WITH (FORCE)')
    _admin(settings, f'CREATE DATABASE "{state.database}"')
    yield state
    state.cleanup()


def _project(directory: Path) -> None:
    """testproject as a user's repository holds it, plus this checkout's django_cicd and requirements."""
    shutil.copytree(ROOT / "testproject", directory / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", directory / "manage.py")
    dt.vendor_django_cicd(directory)
    (directory / "requirements.txt").write_text(REQUIREMENTS)


def _cicd_init(directory: Path) -> subprocess.CompletedProcess[str]:
    """``manage.py cicd_init`` in the project, as a user runs it (its own settings, no database)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_ENV"}}
    env["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "cicd_init", "--database-vendor", "postgresql", "--python", "3.11"],
        cwd=directory, capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip


def _release_2(v1: Path, v2: Path) -> None:
    """Release 2: a nullable field on catalog.Product, its migration, and a page that shows both."""
    shutil.copytree(v1, v2)
    models = v2 / "testproject" / "catalog" / "models.py"
    models.write_text(
        models.read_text().replace(
            "    price = models.DecimalField(",
            "    subtitle = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001\n"
            "    price = models.DecimalField(",
        )
    )
    (v2 / "testproject" / "catalog" / "migrations" / "0006_product_subtitle.py").write_text(V2_MIGRATION)
    home = v2 / "testproject" / "templates" / "home.html"
    home.write_text(
        home.read_text()
        .replace("<h1>testproject shop</h1>", "<h1>testproject shop, release 2</h1>")
        .replace("{{ product.name }}", "{{ product.name }} {{ product.subtitle|default:'' }}")
    )


def test_the_journey(journey, tmp_path):
    j = journey
    v1 = tmp_path / "v1"
    v1.mkdir()
    _project(v1)

    # 1. cicd_init writes the Dockerfile and the pipelines.
    result = _cicd_init(v1)
    assert result.returncode == 0, result.stderr
    assert "created  Dockerfile" in result.stdout
    dockerfile = (v1 / "Dockerfile").read_text()
    assert "postgresql-client" in dockerfile  # the backup's pg_dump

    # 2. Build v1 once; everything after runs this image.
    v1_id = j.build(v1, "v1")
    assert j.docker_run("run", "--rm", v1_id, "pg_dump", "--version").stdout.startswith("pg_dump (PostgreSQL)")

    # 3. predeploy in the image, against production's settings.
    checked = j.one_off(v1_id, "predeploy")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # 4. safe_migrate's pre-deploy stage, pinned to the image id: lock, backup (pg_dump in the image),
    # ledger. On an empty database every migration is safe before the rollout.
    migrated = j.one_off(v1_id, *j.stage("pre", "v1", v1_id))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert list(j.backups.iterdir()), "safe_migrate took no backup"
    # A row of production data, which every later release and the rollback must keep.
    _query(j.settings, j.database, "INSERT INTO catalog_product (name, price) VALUES ('Journey kettle', 19.90)")

    # 5. Deploy v1 as a Swarm service (host network: the database is on 127.0.0.1).
    j.docker_run(
        "service", "create", "--detach", "--name", j.service, "--network", "host",
        *[flag for name, value in j.env.items() for flag in ("--env", f"{name}={value}")],
        "--mount", f"type=bind,source={j.backups},target=/backups",
        "--health-interval", "2s", "--health-start-period", "60s",
        v1_id, "gunicorn", "testproject.wsgi:application", "--bind", f"127.0.0.1:{j.port}",
    )  # fmt: skip
    status, body = j.wait_serving(v1_id, "Journey kettle")
    assert (status, "Journey kettle" in body, "release 2" in body) == (200, True, False), body[:500] + j.diagnose()
    assert j.service_image() == v1_id
    finished = j.one_off(v1_id, *j.stage("post", "v1", v1_id))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "nothing to apply" in finished.stdout

    # 6. Release 2: a new migration. Build, rehearse, migrate, update the service.
    v2 = tmp_path / "v2"
    _release_2(v1, v2)
    v2_id = j.build(v2, "v2")
    assert v2_id != v1_id
    rehearsed = j.one_off(v2_id, "safe_migrate", "--rehearse", "--format", "json")
    assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr
    rehearsal = json.loads(rehearsed.stdout)
    assert [s["name"] for s in rehearsal["phases"][0]["steps"]] == ["0006_product_subtitle"]
    assert "subtitle" not in j.columns("catalog_product")  # the rehearsal changed a copy only

    # The pre-deploy stage: a nullable column is safe while v1 still serves.
    migrated = j.one_off(v2_id, *j.stage("pre", "v2", v2_id))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "subtitle" in j.columns("catalog_product")
    j.docker_run("service", "update", "--detach=false", "--image", v2_id, j.service)
    # The generated health check step, as written: the update converged on v2, every task healthy.
    checked = j.pipeline_step(v1, "health", image=v2_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr + j.diagnose()
    status, body = j.wait_serving(v2_id, "release 2")
    assert (status, "release 2" in body, "Journey kettle" in body) == (200, True, True), body[:500] + j.diagnose()
    # The post-deploy stage: nothing was held back, and the release keeps its one ledger row.
    finished = j.one_off(v2_id, *j.stage("post", "v2", v2_id))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "nothing to apply" in finished.stdout

    # The ledger: one succeeded deploy per release, each with its image pinned by id.
    assert j.ledger() == [
        ("deploy", "v1", "succeeded", j.repository, v1_id),
        ("deploy", "v2", "succeeded", j.repository, v2_id),
    ]

    # 7. Roll back, as the generated rollback job does: rollback_release in v2's image (it still has
    # the migration to reverse), the engine's socket mounted; the database first, then the service
    # goes back to v1's image, by the id the ledger recorded.
    rolled = j.one_off(v2_id, "rollback_release", "--noinput", "--docker-service", j.service, root=True)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "subtitle" not in j.columns("catalog_product")
    applied = _query(j.settings, j.database, "SELECT name FROM django_migrations WHERE app = 'catalog'")
    assert ("0006_product_subtitle",) not in applied and ("0005_remove_product_legacy_code",) in applied
    assert j.service_image() == v1_id
    status, body = j.wait_serving(v1_id, "Journey kettle")
    assert (status, "release 2" in body, "Journey kettle" in body) == (200, False, True), body[:500] + j.diagnose()
    # The ledger shows all three steps: v2 rolled back, and the rollback to v1 with v1's image and schema.
    assert j.ledger() == [
        ("deploy", "v1", "succeeded", j.repository, v1_id),
        ("deploy", "v2", "rolled_back", j.repository, v2_id),
        ("rollback", "v1", "succeeded", j.repository, v1_id),
    ]
    states = _query(j.settings, j.database, "SELECT state_after FROM django_cicd_release ORDER BY id")
    assert states[2] == states[0] != states[1]
    assert states[0][0]["catalog"] == "0005_remove_product_legacy_code"
    listing = j.one_off(v1_id, "releases")
    assert listing.returncode == 0, listing.stderr
    # Columns are two or more spaces apart; a deploy's kind names its stage ("deploy (pre)").
    assert [re.split(r"\s{2,}", line.strip())[1:4] for line in listing.stdout.splitlines()[1:4]] == [
        ["v1", "rollback", "succeeded"],
        ["v2", "deploy (pre)", "rolled_back"],
        ["v1", "deploy (pre)", "succeeded"],
    ], listing.stdout
    if os.environ.get("JOURNEY_SHOW"):
        print(rolled.stdout, listing.stdout, sep="\n")
