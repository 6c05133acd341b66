"""Helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent


def need(condition: bool, reason: str) -> None:
    """A tool or service the test needs: in CI (CI=true, where .ci/run installs and starts it) its
    absence fails the test; on a laptop without it the test is skipped with ``reason``."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def run_command(name: str, *args: str, **options: Any) -> tuple[str, str, int]:
    """Run a management command in this process; return (stdout, stderr, exit code)."""
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=stdout, stderr=stderr, **options)
    except CommandError as exc:
        stderr.write(f"CommandError: {exc}\n")
        return stdout.getvalue(), stderr.getvalue(), exc.returncode
    return stdout.getvalue(), stderr.getvalue(), 0


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, settings: str = "tests.settings"
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a subprocess, as CI does, to see the real exit code and output."""
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
