"""manage.py releases: the listing never lets a ledger value forge rows, and bad options are usage errors."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from django_cicd.models import Release
from tests.utils import run_cli, run_command

pytestmark = pytest.mark.django_db(databases="__all__")

#: Anything a terminal acts on: C0 controls but the newline ending each line, DEL, C1, bidi overrides.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _row(**fields):
    values = {"name": "v1", "status": "failed", "started_at": timezone.now()}
    return Release.objects.create(**{**values, **fields})


def test_ledger_values_cannot_forge_rows_in_the_text_listing():
    first = _row(name="v1", host="web-1", error="boom\n  999: forged error line")
    second = _row(
        name="v2\n999  forged   deploy  succeeded",
        host="web-2\r\x1b[2K\x1b[1Aevil",
        image_repository="registry.example.com/shop\x1b]0;pwned\x07",
        backup_name="cicd-default-v2\x1b[31m.dump",
        error="\x1b[2J\x1b[Hscreen wiped\x07",
    )
    stdout, stderr, code = run_command("releases")
    assert (code, stderr) == (0, "")
    assert not CONTROL.search(stdout), repr(stdout)
    lines = stdout.splitlines()
    assert len(lines) == 1 + 2 + 2 + 2  # header, two rows, blank line and "errors:", two errors
    assert lines[1].split()[1:3] == ["v2", "999"]  # the forged "row" is part of the name's cell
    assert lines[-3:] == ["errors:", f"  {second.pk}: screen wiped", f"  {first.pk}: boom   999: forged error line"]
    # JSON keeps the values as recorded: json.dumps escapes every control character.
    document = json.loads(run_command("releases", "--format", "json")[0])
    assert document["releases"][0]["name"] == "v2\n999  forged   deploy  succeeded"


@pytest.mark.parametrize("limit", ["-1", "1000001", str(10**20)])
def test_a_limit_out_of_range_is_a_usage_error(limit):
    stdout, stderr, code = run_command("releases", "--limit", limit)
    assert (stdout, code) == ("", 2)
    assert stderr == f"CommandError: --limit must be between 0 (every row) and 1000000, not {limit}.\n"


def test_the_limit_bounds_are_accepted():
    _row(name="v1")
    _row(name="v2")
    for limit in ("0", "1000000"):
        stdout, _, code = run_command("releases", "--limit", limit, "--format", "json")
        assert code == 0 and len(json.loads(stdout)["releases"]) == 2
    stdout, _, code = run_command("releases", "--limit", "1", "--format", "json")
    assert code == 0 and [r["name"] for r in json.loads(stdout)["releases"]] == ["v2"]


def test_a_huge_limit_on_the_command_line_exits_2_in_one_sentence():
    result = run_cli("releases", "--limit", str(10**20))
    assert result.returncode == 2
    assert result.stderr == f"CommandError: --limit must be between 0 (every row) and 1000000, not {10**20}.\n"
