"""The console blocks of README.md and docs/ are generated: each one is marked with the example of
scripts/docs_examples.py that makes it, and ``--check`` (run by .ci/run) reports a block a fresh run
would change. These tests are fast: they read the Markdown and exercise the comparison on small
inputs; the examples themselves run in CI's ``scripts/docs_examples.py --check``."""

from __future__ import annotations

import importlib.util

import pytest

from tests.utils import ROOT

_spec = importlib.util.spec_from_file_location("docs_examples", ROOT / "scripts" / "docs_examples.py")
assert _spec and _spec.loader
docs_examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_examples)

#: Console blocks (page, start of their first line) that another change of the same release converts;
#: the lead marks them or makes them shell blocks after merging it, and then removes them from here
#: (test_pending_blocks_are_still_pending fails while an entry names a block that is no longer an
#: unmarked console block).
PENDING: set[tuple[str, str]] = set()


def _unmarked() -> set[tuple[str, str]]:
    """(page, first line) of every console block without a marker."""
    found = set()
    for page in docs_examples.pages():
        text = page.read_text()
        lines = text.split("\n")
        for number in docs_examples.unmarked_console_blocks(text):
            found.add((str(page.relative_to(ROOT)), lines[number] if number < len(lines) else ""))
    return found


def _matches(entry: tuple[str, str], block: tuple[str, str]) -> bool:
    return block[0] == entry[0] and block[1].startswith(entry[1])


def _pending(block: tuple[str, str]) -> bool:
    return any(_matches(entry, block) for entry in PENDING)


def test_every_console_block_is_generated():
    unmarked = sorted(block for block in _unmarked() if not _pending(block))
    assert not unmarked, (
        "a ```console block is a transcript made by scripts/docs_examples.py: put `<!-- example: NAME -->` "
        "on the line before it and add NAME to EXAMPLES, or, for commands to type without output, make it a "
        f"```shell block: {unmarked}"
    )


def test_pending_blocks_are_still_pending():
    unmarked = _unmarked()
    done = sorted(entry for entry in PENDING if not any(_matches(entry, block) for block in unmarked))
    assert not done, f"remove these entries from PENDING, their blocks are marked or gone: {done}"


def test_every_marker_names_an_example_and_stands_before_a_console_block():
    shown = set()
    for page in docs_examples.pages():
        text = page.read_text()
        for match in docs_examples.ANY_MARKER.finditer(text):
            where = f"{page.relative_to(ROOT)}: {match[0]}"
            assert match["name"] in docs_examples.EXAMPLES, f"{where} names no example of scripts/docs_examples.py"
            assert text[match.end() :].startswith("\n```console\n"), f"{where} is not right before a ```console block"
            shown.add(match["name"])
    assert set(docs_examples.EXAMPLES) <= shown, (
        f"examples no page shows: {sorted(set(docs_examples.EXAMPLES) - shown)}"
    )


def test_a_console_fence_needs_the_marker_on_the_line_right_before_it():
    text = (
        "<!-- example: one -->\n```console\n$ a\n```\n\n"
        "<!-- example: two -->\n\n```console\n$ b\n```\n"
        "!!! note\n    ```console\n    $ c\n    ```\n"
        "```shell\npip install x\n```\n"
    )
    assert docs_examples.unmarked_console_blocks(text) == [8, 12]
    assert docs_examples.unmarked_console_blocks("```console\n$ d\n```\n") == [1]


RUN = """$ python manage.py releases
id  release  kind      status     started (UTC)        seconds  migrations  image
3   v1       rollback  succeeded  2026-12-02 20:58:45  11.24    1           shop@sha256:7da17e7cb4eaae7ed640d5424b0f6e42
  backup   cicd-default-v1-20261202-205311-261951.psql.bin (46030 bytes, sha256 ddcc7d50b6036ad9, verified)
  at /tmp/cicd-docs-5c19b5cv/backups and /tmp/django-cicd-static-z0pov4jq
  reversed    0.012s  catalog.0006_product_subtitle on journey-web-de41a020, Sentry at 127.0.0.1:40495
  info     cicd.database.version: default: SQLite 3.40.1, answered in 0 ms
"""
#: The same run at another time: every value differs that legitimately does, columns padded anew.
RERUN = """$ python manage.py releases
id  release  kind      status     started (UTC)        seconds  migrations  image
3   v1       rollback  succeeded  2027-01-13 09:01:02  9.5      1           shop@sha256:0123456789abcdef0123456789abcdef
  backup   cicd-default-v1-20270113-090059-a1b2c3.psql.bin (7 bytes, sha256 0123456789abcdef, verified)
  at /var/tmp/cicd-docs-q_1x2y3z/backups and /tmp/django-cicd-static-abcdefgh
  reversed    10.250s  catalog.0006_product_subtitle on journey-web-0a1b2c3d, Sentry at 127.0.0.1:8
  info     cicd.database.version: default: SQLite 3.46.0, answered in 12 ms
"""


def test_the_values_that_vary_between_runs_are_masked():
    assert docs_examples.normalised(RUN) == docs_examples.normalised(RERUN)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("succeeded", "failed"),  # a word
        ("migrations  image", "migrations  images"),  # a header
        ("  1  ", "  2  "),  # a count
        ("catalog.0006_product_subtitle", "catalog.0007_product_subtitle"),  # a migration
        ("sha256 ddcc", "md5 ddcc"),  # the words around a masked value
        ("/backups", "/backup"),  # a path beyond the temporary directory
    ],
)
def test_anything_else_that_changes_is_reported(old, new):
    assert old in RUN
    assert docs_examples.normalised(RUN.replace(old, new, 1)) != docs_examples.normalised(RUN)


def test_check_reports_a_hand_edited_block_and_a_run_rewrites_it(tmp_path):
    page = tmp_path / "page.md"
    examples = {"greeting": lambda: "$ echo hello\nhello (0.010s)\n"}
    written = "Intro.\n\n<!-- example: greeting -->\n```console\n$ echo hello\nhello (0.020s)\n```\n\nAfter.\n"
    page.write_text(written)
    assert docs_examples.regenerate([page], examples, {"greeting"}, check=True)[1] == []  # only a duration differs

    page.write_text(written.replace("hello (", "hallo ("))
    _, stale = docs_examples.regenerate([page], examples, {"greeting"}, check=True)
    assert len(stale) == 1 and "greeting" in stale[0] and "-hallo" in stale[0] and "+hello" in stale[0]
    assert "hallo" in page.read_text()  # --check changes nothing

    docs_examples.regenerate([page], examples, {"greeting"}, check=False)
    assert page.read_text() == written.replace("0.020s", "0.010s")
