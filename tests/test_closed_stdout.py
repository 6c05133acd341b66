"""A reader that goes away (``manage.py predeploy --list | head``) is not an error of ours.

Every command keeps going with its output dropped, says nothing about the pipe and exits with its own
code: a migration is not cut short because the reader of its progress left. Each test runs the
command with a stdout pipe whose read end is already closed, so every write fails with EPIPE.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.utils import ROOT

pytestmark = pytest.mark.slow


def run_with_closed_stdout(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read
    try:
        env = {
            **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SENTRY_DSN"}},
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            **environ,
        }
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("predeploy", "--list"),
        ("env",),
        ("env", "--example"),
        ("env", "--format", "json"),
        ("releases",),
    ],
)
def test_command_exits_0_quietly(args, tmp_path):
    result = run_with_closed_stdout(*args, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert (result.returncode, result.stderr) == (0, "")


def test_predeploy_keeps_its_answer_and_writes_its_report(tmp_path):
    report = tmp_path / "report.json"
    result = run_with_closed_stdout(
        "predeploy", "--no-db", "--only", "cicd.django", "--output", str(report), "--format", "json", DEBUG="true"
    )
    # DEBUG=true fails the deploy checks: the answer is still no, and said on stderr.
    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: predeploy FAILED:")
    assert "BrokenPipe" not in result.stderr
    assert '"security.W018"' in report.read_text()


def test_safe_migrate_finishes_its_run(tmp_path):
    database = tmp_path / "db.sqlite3"
    result = run_with_closed_stdout("safe_migrate", "--no-backup", DATABASE_URL=f"sqlite:///{database}")
    assert (result.returncode, result.stderr) == (0, "")
    with sqlite3.connect(database) as connection:
        applied = connection.execute("SELECT COUNT(*) FROM django_migrations WHERE app = 'catalog'").fetchone()[0]
        status = connection.execute("SELECT status FROM django_cicd_release").fetchall()
    assert applied > 0
    assert status == [("succeeded",)]
