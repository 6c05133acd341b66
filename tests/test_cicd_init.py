"""cicd_init: what it detects, what it writes, and that it never overwrites without --force."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from django.test import override_settings

from django_cicd.scaffold import Project, ScaffoldError, detect_project, render_files, write_files
from tests.utils import ROOT, run_command

EXPECTED_FILES = [
    "Dockerfile",
    ".dockerignore",
    "docker/entrypoint.sh",
    "docker/healthcheck.py",
    "docker-compose.yml",
    "requirements.txt",
    ".env.example",  # the testproject declares an environment contract (django_cicd.env)
    ".github/workflows/deploy.yml",
    ".gitlab-ci.yml",
    "deploy/swarm/stack.yml",
]


@pytest.fixture
def project_dir(tmp_path):
    """A copy of testproject with its manage.py, as a user's repository would hold it."""
    shutil.copytree(ROOT / "testproject", tmp_path / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    return tmp_path


def files_of(project: Project) -> dict[str, str]:
    return {f.path: f.content for f in render_files(project)}


def test_detects_the_running_project(project_dir):
    project = detect_project(project_dir, settings_module="testproject.settings", python_version="3.12")
    assert project.application == "testproject.wsgi:application"
    assert project.server == "gunicorn"
    assert project.name == "testproject"
    assert project.requirements == "requirements.txt"  # none in the project: cicd_init writes one
    assert project.extra_packages == ()


@override_settings(WSGI_APPLICATION=None, ASGI_APPLICATION="testproject.asgi.application")
def test_an_asgi_project_gets_uvicorn(project_dir):
    project = detect_project(project_dir, settings_module="testproject.settings")
    dockerfile = files_of(project)["Dockerfile"]
    assert project.server == "uvicorn"
    assert 'CMD ["uvicorn", "testproject.asgi:application"' in dockerfile
    assert "uvicorn" in files_of(project)["requirements.txt"]


def test_requirements_that_lack_the_server_and_driver_get_them_installed(project_dir):
    (project_dir / "requirements.txt").write_text("Django>=5.2\ndjango-cicd\n")
    project = detect_project(project_dir, settings_module="testproject.settings", vendor="postgresql")
    assert project.extra_packages == ("gunicorn", "psycopg[binary]")
    assert 'pip install --requirement requirements.txt gunicorn "psycopg[binary]"' in files_of(project)["Dockerfile"]
    assert "requirements.txt" not in {f.path for f in render_files(project)}  # the project's own stays


def test_requirements_that_name_them_are_left_alone(project_dir):
    (project_dir / "requirements.txt").write_text("Django>=5.2\ngunicorn==23.0\npsycopg[binary]>=3.2\n")
    project = detect_project(project_dir, settings_module="testproject.settings", vendor="postgresql")
    assert project.extra_packages == ()
    assert "pip install --requirement requirements.txt\n" in files_of(project)["Dockerfile"]


def test_a_pyproject_only_project_installs_itself(project_dir):
    (project_dir / "pyproject.toml").write_text('[project]\nname = "shop"\ndependencies = ["gunicorn"]\n')
    project = detect_project(project_dir, settings_module="testproject.settings", vendor="sqlite")
    assert project.requirements is None
    assert "pip install .\n" in files_of(project)["Dockerfile"]


@pytest.mark.parametrize(
    ("vendor", "service", "driver"),
    [("postgresql", "image: postgres:16", "psycopg"), ("mysql", "image: mariadb:11", "mysqlclient")],
)
def test_the_database_vendor_shapes_compose_ci_and_requirements(project_dir, vendor, service, driver):
    files = files_of(detect_project(project_dir, settings_module="testproject.settings", vendor=vendor))
    assert service in files["docker-compose.yml"]
    assert service in files[".github/workflows/deploy.yml"]
    assert driver in files["requirements.txt"]


def test_sqlite_compose_keeps_the_database_on_a_volume_the_app_user_owns(project_dir):
    files = files_of(detect_project(project_dir, settings_module="testproject.settings", vendor="sqlite"))
    assert "DATABASE_URL: sqlite:////data/db.sqlite3" in files["docker-compose.yml"]
    assert "install -d -o app -g app /data" in files["Dockerfile"]
    assert "image: postgres" not in files["docker-compose.yml"]


def test_the_dockerfile_follows_the_rules(project_dir):
    dockerfile = files_of(detect_project(project_dir, settings_module="testproject.settings"))["Dockerfile"]
    assert "ARG BASE_IMAGE=python:" in dockerfile
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2  # multi-stage
    assert "USER app:app" in dockerfile
    assert "ARG REVISION=unknown" in dockerfile and "> /app/REVISION" in dockerfile
    assert "DJANGO_BUILD=1 python manage.py collectstatic --noinput" in dockerfile
    assert "curl" not in dockerfile
    assert 'CMD ["python", "/app/docker/healthcheck.py"]' in dockerfile
    # The requirements are copied (and installed) before the code, so code changes keep that layer.
    assert dockerfile.index("COPY requirements.txt") < dockerfile.index("pip install") < dockerfile.index("COPY . /app")
    # No instruction migrates at build or start (comments may name safe_migrate, which runs in a job).
    instructions = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in instructions if "migrate" in line]


def test_the_entrypoint_does_not_migrate(project_dir):
    entrypoint = files_of(detect_project(project_dir, settings_module="testproject.settings"))["docker/entrypoint.sh"]
    commands = [line.strip() for line in entrypoint.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not any("manage.py migrate" in c and "--check" not in c for c in commands)
    assert commands[-1] == 'exec "$@"'


def test_the_pipelines_call_our_commands(project_dir):
    files = files_of(detect_project(project_dir, settings_module="testproject.settings"))
    github, gitlab = files[".github/workflows/deploy.yml"], files[".gitlab-ci.yml"]
    for pipeline in (github, gitlab):
        assert "safe_migrate --rehearse" in pipeline
        assert 'safe_migrate --stage pre --release "$RELEASE" --image "$IMAGE"' in pipeline
        assert 'safe_migrate --stage post --release "$RELEASE" --image "$IMAGE"' in pipeline
        assert 'rollback_release --noinput --docker-service "$SERVICE"' in pipeline
        assert "REVISION" in pipeline
    assert "predeploy --format github" in github
    assert "group: production" in github and "cancel-in-progress: false" in github
    assert "${{ secrets.DATABASE_URL }}" in github
    assert "--format junit --output reports/predeploy.xml" in gitlab
    assert "codequality: reports/codequality.json" in gitlab
    assert "resource_group: production" in gitlab
    assert "when: on_failure" in gitlab and "when: manual" in gitlab


def test_kubernetes_migrates_in_jobs_and_undoes_the_rollout_after_rollback_release(project_dir):
    project = detect_project(project_dir, settings_module="testproject.settings", targets=["kubernetes"])
    files = files_of(project)
    for stage in ("pre", "post"):
        job = yaml.safe_load(files[f"deploy/kubernetes/migrate-{stage}-job.yaml"])
        assert job["kind"] == "Job" and job["metadata"]["name"] == f"testproject-migrate-{stage}"
        assert job["spec"]["backoffLimit"] == 0
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == [
            "python", "manage.py", "safe_migrate", "--stage", stage, "--release", "__RELEASE__", "--image", "__IMAGE__"
        ]  # fmt: skip
        assert container["image"] == "__IMAGE__"
    github = files[".github/workflows/deploy.yml"]
    assert github.index("rollback-job.yaml") < github.index("kubectl rollout undo deployment/testproject")


@pytest.mark.parametrize(
    ("target", "path", "text"),
    [
        ("fly", "fly.toml", 'release_command = "python manage.py safe_migrate --stage pre"\n'),
        ("heroku", "heroku.yml", "- python manage.py safe_migrate --stage pre\n"),
    ],
)
def test_release_phase_targets(project_dir, target, path, text):
    assert text in files_of(detect_project(project_dir, settings_module="testproject.settings", targets=[target]))[path]


def test_unknown_target_is_refused(project_dir):
    with pytest.raises(ScaffoldError, match="unknown target 'nomad'; use one of swarm, kubernetes, fly, heroku"):
        detect_project(project_dir, settings_module="testproject.settings", targets=["nomad"])


def test_a_bad_python_version_is_refused(project_dir):
    with pytest.raises(ScaffoldError, match=r"the Python version must look like 3.12, not '3'\."):
        detect_project(project_dir, settings_module="testproject.settings", python_version="3")


def test_write_never_overwrites_without_force(project_dir):
    project = detect_project(project_dir, settings_module="testproject.settings")
    files = render_files(project)
    (project_dir / "Dockerfile").write_text("FROM scratch\n")
    results = {r.path: r.action for r in write_files(files, project_dir)}
    assert results["Dockerfile"] == "skipped"
    assert (project_dir / "Dockerfile").read_text() == "FROM scratch\n"
    assert results[".gitlab-ci.yml"] == "created"
    again = {r.path: r.action for r in write_files(files, project_dir)}
    assert again[".gitlab-ci.yml"] == "unchanged"
    forced = {r.path: r.action for r in write_files(files, project_dir, force=True)}
    assert forced["Dockerfile"] == "overwritten"
    assert (project_dir / "docker/entrypoint.sh").stat().st_mode & 0o111


def test_command_writes_the_files(project_dir):
    stdout, stderr, code = run_command("cicd_init", directory=str(project_dir), settings_module="testproject.settings")
    assert code == 0, stderr
    *files, summary = stdout.splitlines()
    assert [line.split()[-1] for line in files] == EXPECTED_FILES
    assert all(line.startswith("created") for line in files)
    assert summary == f"cicd_init wrote {len(EXPECTED_FILES)} file(s) in {project_dir} (0 unchanged)"
    assert all((project_dir / path).is_file() for path in EXPECTED_FILES)


def test_dry_run_lists_and_writes_nothing(project_dir):
    before = sorted(p.relative_to(project_dir) for p in project_dir.rglob("*"))
    stdout, _, code = run_command(
        "cicd_init", directory=str(project_dir), settings_module="testproject.settings", dry_run=True
    )
    assert code == 0
    assert stdout.splitlines()[0].split() == ["would", "create", "Dockerfile"]
    assert sorted(p.relative_to(project_dir) for p in project_dir.rglob("*")) == before


def test_existing_files_make_the_answer_no_until_forced(project_dir):
    (project_dir / "Dockerfile").write_text("FROM scratch\n")
    stdout, stderr, code = run_command("cicd_init", directory=str(project_dir), settings_module="testproject.settings")
    assert code == 1
    assert "skipped  Dockerfile" in stdout
    assert stderr == (
        "CommandError: 1 file(s) exist and differ (Dockerfile); rerun with --force to overwrite them, "
        "or --dry-run to see the list.\n"
    )
    _, _, code = run_command(
        "cicd_init", directory=str(project_dir), settings_module="testproject.settings", force=True
    )
    assert code == 0
    assert (project_dir / "Dockerfile").read_text().startswith("# Generated by django-cicd")


def test_json_output(project_dir):
    stdout, _, code = run_command(
        "cicd_init", "--format", "json", directory=str(project_dir), settings_module="testproject.settings"
    )
    document = json.loads(stdout)
    assert code == 0
    assert (document["schema"], document["version"]) == ("django-cicd/cicd_init", 1)
    assert document["project"]["application"] == "testproject.wsgi:application"
    assert [f["path"] for f in document["files"]] == EXPECTED_FILES


def test_missing_directory_could_not_run(tmp_path):
    missing = tmp_path / "nope"
    _, stderr, code = run_command("cicd_init", directory=str(missing))
    assert code == 2
    assert (
        stderr == f"CommandError: the directory {missing} does not exist; pass --directory with the project's root.\n"
    )


def test_the_healthcheck_script_is_valid_python(project_dir):
    source = files_of(detect_project(project_dir, settings_module="testproject.settings"))["docker/healthcheck.py"]
    compile(source, "healthcheck.py", "exec")
    assert "urllib.request" in source


def test_templates_ship_in_the_package():
    templates = Path(__file__).resolve().parent.parent / "django_cicd" / "scaffold" / "templates"
    assert (templates / "docker" / "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("vendor", "client"),
    [("postgresql", "postgresql-client"), ("mysql", "mariadb-client"), ("sqlite", None)],
)
def test_the_image_has_the_dump_client_of_its_database(project_dir, vendor, client):
    """safe_migrate backs up with django-dbbackup, which runs pg_dump / mariadb-dump in the image."""
    dockerfile = files_of(detect_project(project_dir, settings_module="testproject.settings", vendor=vendor))[
        "Dockerfile"
    ]
    runtime = dockerfile.split("AS runtime", 1)[1]
    installed = re.findall(r"apt-get install --yes --no-install-recommends ([^\\\n]+)", runtime)
    if client is None:
        assert installed == []
    else:
        assert client in installed[0].split()


@pytest.mark.parametrize("system", [".github/workflows/deploy.yml", ".gitlab-ci.yml"])
def test_swarm_pipelines_migrate_and_deploy_the_image_by_digest(project_dir, system):
    pipeline = files_of(detect_project(project_dir, settings_module="testproject.settings"))[system]
    pin = pipeline.index('IMAGE="$(docker image inspect --format \'{{index .RepoDigests 0}}\' "$IMAGE")"')
    assert pipeline.index("docker pull --quiet") < pin
    assert pin < pipeline.index('safe_migrate --stage pre --release "$RELEASE" --image "$IMAGE"')
    assert pin < pipeline.index('docker service update --detach=false --with-registry-auth --image "$IMAGE"')
    assert pin < pipeline.index('safe_migrate --stage post --release "$RELEASE" --image "$IMAGE"')
    if system.startswith(".github"):  # each step is a new shell: the pinned IMAGE goes through GITHUB_ENV
        assert 'echo "IMAGE=$IMAGE" >> "$GITHUB_ENV"' in pipeline[pin:]
