"""A pytest session removes the directory tests/settings.py made for it (SQLite test databases,
backups), and only that one: a session that inherited the directory from its parent leaves it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.utils import ROOT


def _session(tmp_path: Path, env: dict[str, str]) -> Path:
    output = tmp_path / "probe-output"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / "tests" / "session_probe.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "CICD_PROBE_OUTPUT": str(output)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Path(output.read_text())


def test_a_session_removes_the_directory_it_made(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_CICD_TEST_DIR"}
    used = _session(tmp_path, {**env, "TMPDIR": str(temporary)})
    assert used.parent == temporary and used.name.startswith("django-cicd-tests-")
    assert list(temporary.iterdir()) == []


def test_a_session_leaves_the_directory_it_inherited(tmp_path):
    inherited = os.environ["DJANGO_CICD_TEST_DIR"]
    used = _session(tmp_path, dict(os.environ))
    assert used == Path(inherited)
    assert (used / "probe.txt").is_file()
    (used / "probe.txt").unlink()
