from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.storage import FileSystemStorage
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string

from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import SkipCheck, register
from django_cicd.conf import cicd_settings
from django_cicd.planning import relative_path
from django_cicd.redaction import redact
from django_cicd.report import Finding, Location, Severity

_FAILED_FILE = re.compile(r"Post-processing '(?P<name>[^']+)' failed!")


@register("cicd.static.collect", title="collectstatic succeeds, post-processing included")
def collect_static(ctx: CheckContext) -> Iterator[Finding]:
    """Runs a real ``collectstatic`` into a temporary directory with the configured storage class.

    ``collectstatic --dry-run`` skips post-processing, so a ``ManifestStaticFilesStorage`` reference to
    a missing file (``url(../img/logo.png)`` in a CSS file) passes it and breaks at deploy. This check
    runs post-processing too. A storage that is not a file-system storage (S3...) is skipped with the
    reason: collecting into it would upload files.
    """
    if not cicd_settings.STATIC_CHECK:
        raise SkipCheck("CICD['STATIC_CHECK'] is False")
    if not apps.is_installed("django.contrib.staticfiles"):
        raise SkipCheck("django.contrib.staticfiles is not installed")
    config = cast("dict[str, Any] | None", settings.STORAGES.get("staticfiles"))
    if not config:
        raise SkipCheck("STORAGES['staticfiles'] is not configured")
    backend = import_string(config["BACKEND"])
    if not (isinstance(backend, type) and issubclass(backend, FileSystemStorage)):
        raise SkipCheck(
            f"{config['BACKEND']} is not a FileSystemStorage; collecting into it would upload files. "
            "Run collectstatic in a staging build instead."
        )
    from django.contrib.staticfiles.management.commands.collectstatic import Command

    with tempfile.TemporaryDirectory(prefix="django-cicd-static-") as location:
        options = {**config.get("OPTIONS", {}), "location": location}
        stdout, stderr = io.StringIO(), io.StringIO()
        command = Command(stdout=stdout, stderr=stderr)
        command.storage = backend(**options)
        try:
            call_command(command, interactive=False, verbosity=1, clear=False, link=False)
        except (CommandError, ValueError, OSError) as exc:
            failed = _FAILED_FILE.search(stderr.getvalue())
            location_ = None
            if failed:
                source = finders.find(failed.group("name"))
                if isinstance(source, str):
                    location_ = Location(relative_path(source))
            yield Finding(
                message=redact(f"collectstatic failed: {exc}"),
                hint=(
                    "Fix the reference (or add the missing file), then run `python manage.py "
                    "collectstatic --noinput` locally to confirm."
                ),
                code="cicd.static.collect",
                location=location_,
            )
            return
        summary = stdout.getvalue().strip().splitlines()
        yield Finding(
            message=f"collected with {config['BACKEND']}: {summary[-1] if summary else 'no output'}",
            severity=Severity.INFO,
            code="cicd.static.collect",
        )
