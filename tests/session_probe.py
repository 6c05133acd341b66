"""Run only by tests/test_suite_cleanup.py, as a pytest session of its own (the name keeps it out of
the suite's collection): it records the test directory its settings use."""

from __future__ import annotations

import os
from pathlib import Path


def test_records_the_test_directory():
    directory = Path(os.environ["DJANGO_CICD_TEST_DIR"])
    assert directory.is_dir()
    (directory / "probe.txt").write_text("written during the session\n")
    Path(os.environ["CICD_PROBE_OUTPUT"]).write_text(str(directory))
