"""Regenerate the console blocks of docs/ from real runs, or check that they are up to date.

    python scripts/docs_examples.py                 # rewrite every example block
    python scripts/docs_examples.py --only recovery-postgresql
    python scripts/docs_examples.py --check         # exit 1 when a block differs from a fresh run

A block is a fenced ``console`` block right after a marker line ``<!-- example: NAME -->`` in a
Markdown file of docs/. Each NAME is made by a function below that runs the commands on a throwaway
database and returns what they printed. ``--check`` runs them again and compares the outputs with the
values that change from run to run (times, durations, backup names and checksums, row ids, pids,
temporary paths) masked on both sides: the blocks keep the real values of the run that wrote them.

The PostgreSQL and MariaDB examples need the servers of the test suite (DATABASE_URL-style
``BENCH_POSTGRES`` / ``BENCH_MARIADB`` override them).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
MARIADB = os.environ.get("BENCH_MARIADB", "mysql://root@127.0.0.1:3306")
DATABASE = "cicd_docs_examples"
MARKER = re.compile(r"^<!-- example: (?P<name>[a-z0-9-]+) -->\n```console\n(?P<body>.*?)```\n", re.M | re.S)


class Sandbox:
    """A fresh database of one vendor and a backup directory, for the commands of one example."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.work = Path(tempfile.mkdtemp(prefix="cicd-docs-"))
        if vendor == "sqlite":
            self.url = f"sqlite:///{self.work / 'db.sqlite3'}"
        elif vendor == "postgresql":
            self._server(
                "psql", f"{POSTGRES}/postgres", f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}"
            )
            self.url = f"{POSTGRES}/{DATABASE}"
        else:
            self._server("mysql", None, f"DROP DATABASE IF EXISTS {DATABASE}", f"CREATE DATABASE {DATABASE}")
            self.url = f"{MARIADB}/{DATABASE}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "CI"}},
            "DJANGO_SETTINGS_MODULE": "tests.scenarios.migrate.settings",
            "DJANGO_CICD_TEST_DIR": str(self.work),
            "DATABASE_URL": self.url,
        }

    def _server(self, client: str, url: str | None, *statements: str) -> None:
        for sql in statements:
            if client == "psql":
                command = ["psql", str(url), "-qAtc", sql]
            else:
                command = ["mysql", "-uroot", "-h127.0.0.1", "-e", sql]
            subprocess.run(command, check=True, capture_output=True)

    def run(self, *args: str, catalog: str = "", expect: int = 0, show: bool = True) -> str:
        """Run manage.py; return "$ python manage.py ..." and its output, as a reader would see it."""
        env = {**self.env, "CICD_TEST_CATALOG": catalog}
        process = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, text=True, capture_output=True, check=False
        )
        if process.returncode != expect:
            sys.exit(
                f"docs_examples: `manage.py {' '.join(args)}` exited {process.returncode}, expected {expect}:\n"
                f"{process.stdout}{process.stderr}"
            )
        if not show:
            return ""
        output = (process.stdout + process.stderr).replace(str(self.work), "/var/backups/shop")
        return f"$ python manage.py {' '.join(args)}\n{output}$ echo $?\n{process.returncode}\n"

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        if self.vendor == "postgresql":
            self._server("psql", f"{POSTGRES}/postgres", f"DROP DATABASE IF EXISTS {DATABASE}")
        elif self.vendor == "mysql":
            self._server("mysql", None, f"DROP DATABASE IF EXISTS {DATABASE}")


def recovery(vendor: str) -> Callable[[], str]:
    """A release whose non-atomic migration adds a column, then fails in a RunSQL that had already created
    a view, a table and an index (tests/scenarios/migrate/catalog_view)."""

    def make() -> str:
        box = Sandbox(vendor)
        try:
            box.run("migrate", "--noinput", show=False)
            box.run("safe_migrate", "--release", "r1", show=False)
            return box.run("safe_migrate", "--release", "r2", "--allow-unsafe", catalog="catalog_view", expect=1)
        finally:
            box.close()

    return make


def rollback_recovered() -> str:
    """A rollback whose second reversal fails (tests/scenarios/rollback/catalog_badreverse): the one it
    had reversed is applied again, so the database is where the rollback started."""
    box = Sandbox("sqlite")
    try:
        box.run("migrate", "--noinput", show=False)
        box.run("safe_migrate", "--release", "r1", show=False)
        box.run("safe_migrate", "--release", "r2", catalog="tests.scenarios.rollback.catalog_badreverse", show=False)
        return box.run("rollback_release", "--noinput", catalog="tests.scenarios.rollback.catalog_badreverse", expect=1)
    finally:
        box.close()


EXAMPLES: dict[str, Callable[[], str]] = {
    "recovery-sqlite": recovery("sqlite"),
    "recovery-postgresql": recovery("postgresql"),
    "recovery-mariadb": recovery("mysql"),
    "rollback-recovered": rollback_recovered,
}

#: What changes from one run to the next; masked on both sides by --check.
VOLATILE = [
    (re.compile(r"\d+\.\d{3}s\b"), "<seconds>"),
    (re.compile(r"cicd-[\w.-]+?-\d{8}-\d{6}-[0-9a-f]{6}(\.[\w.]+)?"), "<backup>"),
    (re.compile(r"\b[0-9a-f]{16,64}\b"), "<hex>"),
    (re.compile(r"\b\d+ bytes\b"), "<n> bytes"),
    (re.compile(r"ledger row \d+|row \d+"), "row <n>"),
    (re.compile(r"pid \d+"), "pid <n>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), "<time>"),
]


def normalised(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="compare instead of rewriting; exit 1 when stale")
    parser.add_argument("--only", action="append", help="one example (repeatable)")
    options = parser.parse_args()
    wanted = set(options.only or EXAMPLES)
    unknown = wanted - set(EXAMPLES)
    if unknown:
        sys.exit(f"docs_examples: unknown example(s) {', '.join(sorted(unknown))}; known: {', '.join(EXAMPLES)}")
    made: dict[str, str] = {}
    stale: list[str] = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text()

        def replace(match: re.Match[str], path: Path = path) -> str:
            name = match["name"]
            if name not in EXAMPLES:
                sys.exit(f"docs_examples: {path.relative_to(ROOT)} names an unknown example {name!r}")
            if name not in wanted:
                return match[0]
            if name not in made:
                print(f"running example {name} ...", file=sys.stderr, flush=True)
                made[name] = EXAMPLES[name]()
            if normalised(made[name]) != normalised(match["body"]):
                stale.append(f"{path.relative_to(ROOT)}: {name}")
            return f"<!-- example: {name} -->\n```console\n{made[name]}```\n"

        updated = MARKER.sub(replace, text)
        if not options.check and updated != text:
            path.write_text(updated)
    missing = wanted - set(made)
    if options.only and missing:
        sys.exit(f"docs_examples: no block in docs/ shows {', '.join(sorted(missing))}")
    if options.check and stale:
        sys.exit(
            "docs_examples: these blocks differ from a fresh run (python scripts/docs_examples.py):\n  "
            + "\n  ".join(stale)
        )
    print(f"docs_examples: {len(made)} example(s) {'checked' if options.check else 'written'}", file=sys.stderr)


if __name__ == "__main__":
    main()
