"""``manage.py cicd_init``: write the Dockerfile, the CI/CD pipelines and the deploy files.

Exit 0: written (or, with --dry-run, listed); 1: some files exist and differ (not overwritten
without --force); 2: could not run, and nothing was written (a symbolic link where a file goes or on
the way to it, among others: every path is checked before the first write).
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings

from django_cicd.management.base import CicdCommand, add_output_options, could_not_run
from django_cicd.scaffold import (
    CI_SYSTEMS,
    DEFAULT_CI,
    SERVERS,
    TARGETS,
    VENDORS,
    ScaffoldError,
    ScaffoldReport,
    detect_project,
    render_files,
    write_files,
)


class Command(CicdCommand):
    help = (
        "Write a Dockerfile, docker-compose.yml, CI pipelines (GitHub Actions, GitLab CI, CircleCI, Travis CI, "
        "Jenkins) and deploy files "
        "that build once, check with predeploy, migrate with safe_migrate and roll back with rollback_release. "
        "Never overwrites a file without --force, never writes through a symbolic link."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_output_options(parser)
        parser.add_argument(
            "--directory",
            default=None,
            help="The project's root, where manage.py is (default: BASE_DIR's parent of the settings, else cwd).",
        )
        parser.add_argument(
            "--target",
            action="append",
            dest="targets",
            choices=sorted(TARGETS),
            help="Where the app runs (repeatable; the first drives the pipelines; default: swarm).",
        )
        parser.add_argument(
            "--ci",
            action="append",
            dest="ci",
            choices=CI_SYSTEMS,
            help="The CI system to write a pipeline for (repeatable; default: github and gitlab).",
        )
        parser.add_argument("--settings-module", default=None, help="Default: the running settings module.")
        parser.add_argument("--server", choices=SERVERS, default=None, help="Default: gunicorn, uvicorn for ASGI.")
        parser.add_argument(
            "--database-vendor", choices=VENDORS, default=None, help="Default: the vendor of DATABASES['default']."
        )
        parser.add_argument("--python", dest="python_version", default=None, help="e.g. 3.12 (default: this one).")
        parser.add_argument("--health-path", default=None, help="The URL path the health check asks (default: /).")
        parser.add_argument("--name", default=None, help="Image and service name (default: the project package).")
        parser.add_argument("--force", action="store_true", help="Overwrite files that exist and differ.")
        parser.add_argument("--dry-run", action="store_true", help="List what would be written; write nothing.")

    def handle(
        self,
        *args: Any,
        directory: str | None,
        targets: list[str] | None,
        ci: list[str] | None,
        settings_module: str | None,
        server: Any,
        database_vendor: Any,
        python_version: str | None,
        health_path: str | None,
        name: str | None,
        force: bool,
        dry_run: bool,
        format: str,
        output: str | None,
        **options: Any,
    ) -> None:
        base_dir = Path(directory) if directory else _default_directory()
        if not base_dir.is_dir():
            raise could_not_run(f"the directory {base_dir} does not exist; pass --directory with the project's root.")
        try:
            project = detect_project(
                base_dir,
                settings_module=settings_module,
                server=server,
                vendor=database_vendor,
                python_version=python_version,
                targets=[TARGETS[t].name for t in targets] if targets else ("swarm",),
                ci=ci or DEFAULT_CI,
                health_path=health_path,
                name=name,
            )
            files = render_files(project)
            results = write_files(files, base_dir, force=force, dry_run=dry_run)
        except ScaffoldError as exc:
            raise could_not_run(str(exc)) from exc
        except OSError as exc:
            raise could_not_run(f"cannot write into {base_dir}: {exc.strerror or exc}") from exc

        report = ScaffoldReport(str(base_dir), dry_run, project, results)
        self.emit(report, format=format, output=output, verbosity=options["verbosity"])


def _default_directory() -> Path:
    base = getattr(settings, "BASE_DIR", None)
    if base is not None:
        candidate = Path(base)
        # startproject's BASE_DIR is the root (manage.py beside it); some layouts point at the package.
        for directory in (candidate, candidate.parent):
            if (directory / "manage.py").is_file():
                return directory
    return Path.cwd()
