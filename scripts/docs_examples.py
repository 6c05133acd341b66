"""Regenerate the console blocks of README.md and docs/ from real runs, or check that they are up to date.

    python scripts/docs_examples.py                 # rewrite every example block
    python scripts/docs_examples.py --only recovery-postgresql
    python scripts/docs_examples.py --check         # exit 1 when a block differs from a fresh run

The rule for the Markdown of README.md and docs/:

* a fenced ``console`` block is a transcript: commands *and what they printed*. It is generated: the
  line right before it is a marker ``<!-- example: NAME -->`` and the function ``EXAMPLES[NAME]`` below
  makes its text by running the commands (on a throwaway database, in a scratch directory);
* a fenced ``shell`` block holds commands to type, with no output (``pip install ...``, a deploy
  step that needs a registry or a real Sentry). It is not generated, and shows no output.

tests/test_docs_examples.py fails on a console block without a marker and on a marker that names no
example; CI (.ci/run) runs ``--check``.

``--check`` runs every example again and compares its output with the block, with the values that
change from run to run masked on both sides (``VOLATILE``: times, durations, backup names, sizes and
checksums, hashes and image ids, row ids, pids, ports, temporary paths, and the column padding that
follows their width): the blocks keep the real values of the run that wrote them.

Where an example runs: the PostgreSQL and MariaDB examples need the servers of the test suite
(DATABASE_URL-style ``BENCH_POSTGRES`` / ``BENCH_MARIADB`` override them; ``DOCS_EXAMPLES_DATABASE``
names the scratch database, default ``cicd_docs_examples``). ``journey-*`` runs tests/test_journey.py
(a Docker engine with a single-node Swarm, and PostgreSQL); ``predeploy-json-jq`` needs ``jq``.
The other examples run the command lines they show with bash, in a scratch directory, with this
checkout's django_cicd and testproject on PYTHONPATH and a clean environment: what else an example
sets (testproject's production variables, a stand-in Sentry) is said in the text before its block.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
MARIADB = os.environ.get("BENCH_MARIADB", "mysql://root@127.0.0.1:3306")
DATABASE = os.environ.get("DOCS_EXAMPLES_DATABASE", "cicd_docs_examples")
MARKER = re.compile(r"^<!-- example: (?P<name>[a-z0-9-]+) -->\n```console\n(?P<body>.*?)```\n", re.M | re.S)
#: Any console fence (indented ones too, inside an admonition), and the line before it.
CONSOLE_FENCE = re.compile(r"^(?P<before>.*)\n[ \t]*```console[ \t]*$", re.M)
ANY_MARKER = re.compile(r"^<!-- example: (?P<name>[^ ]*) -->$", re.M)


def pages() -> list[Path]:
    """The Markdown files whose console blocks are generated: README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def unmarked_console_blocks(text: str) -> list[int]:
    """Line numbers (1-based) of the console fences of ``text`` that no marker line precedes."""
    padded = "\n" + text  # a fence on the first line has an empty line before it
    return [
        padded.count("\n", 0, match.end("before")) + 1
        for match in CONSOLE_FENCE.finditer(padded)
        if not ANY_MARKER.fullmatch(match["before"])
    ]


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


class Shell:
    """A scratch directory where an example's command lines run as a reader types them: bash runs each
    line as shown, stdout and stderr interleaved as a terminal shows them. The environment is clean
    (PATH with this Python's bin first, this checkout on PYTHONPATH) plus what the example sets."""

    def __init__(self, **env: str) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="cicd-docs-"))
        self.env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(self.work)),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **env,
        }

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def run(self, command: str, *, expect: int = 0, show: bool = True, status: bool = False) -> str:
        """Run ``command``; return "$ command", what it printed and, with ``status``, "$ echo $?" and the
        exit code. Any other exit code than ``expect`` stops the script: the block would show a failure."""
        process = subprocess.run(
            ["bash", "-c", command],
            cwd=self.work,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=600,
        )
        if process.returncode != expect:
            sys.exit(f"docs_examples: `{command}` exited {process.returncode}, expected {expect}:\n{process.stdout}")
        if not show:
            return ""
        output = process.stdout if not process.stdout or process.stdout.endswith("\n") else process.stdout + "\n"
        return f"$ {command}\n{output}" + (f"$ echo $?\n{process.returncode}\n" if status else "")

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


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


def testproject_copy() -> Shell:
    """A copy of testproject and its manage.py, as a user's repository holds it (no requirements file)."""
    shell = Shell()
    shutil.copytree(ROOT / "testproject", shell.work / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", shell.work / "manage.py")
    return shell


def in_testproject(stage: str = "production") -> Shell:
    """A copy of the bundled testproject and its manage.py in the scratch directory, with the variables
    ``make demo`` sets for ``stage``: a fresh SQLite database, backups and static files there too."""
    shell = testproject_copy()
    shell.env.update(
        DJANGO_SETTINGS_MODULE="testproject.settings",
        DJANGO_ENV=stage,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL=f"sqlite:///{shell.work / 'db.sqlite3'}",
        BACKUP_DIR=str(shell.work / "backups"),
        STATIC_ROOT=str(shell.work / "static"),
    )
    return shell


def startproject(shell: Shell) -> Path:
    """``django-admin startproject myproject .`` in the scratch directory; returns its settings.py."""
    shell.run("django-admin startproject myproject .", show=False)
    return shell.work / "myproject" / "settings.py"


def check_unknown_key() -> str:
    """installation.md: a project fresh from startproject with django-cicd installed and a typo in CICD."""
    shell = Shell()
    try:
        settings = startproject(shell)
        settings.write_text(
            settings.read_text() + '\nINSTALLED_APPS += ["dbbackup", "django_cicd"]\nCICD = {"FAIL_LEVL": "warning"}\n'
        )
        return shell.run("python manage.py check", expect=1, status=True)
    finally:
        shell.close()


def predeploy_testproject() -> str:
    """predeploy.md: predeploy on testproject with production's variables (as ``make demo`` runs it)."""
    shell = in_testproject()
    try:
        return shell.run("python manage.py predeploy", status=True)
    finally:
        shell.close()


#: A settings module that raises an error of its own (not the environment contract's).
OWN_SETTINGS_ERROR = """import os

from django.core.exceptions import ImproperlyConfigured

try:
    SECRET_KEY = os.environ["SECRET_KEY"]
except KeyError:
    raise ImproperlyConfigured("Set the SECRET_KEY environment variable") from None
"""


def settings_not_loaded() -> str:
    """reference/exit-codes.md: settings that raise ImproperlyConfigured, through django-cicd's entry point."""
    shell = Shell()
    try:
        shell.write("myproject/__init__.py", "")
        shell.write("myproject/settings.py", OWN_SETTINGS_ERROR)
        return shell.run("cat myproject/settings.py") + shell.run(
            "python -m django_cicd predeploy --settings myproject.settings", expect=2, status=True
        )
    finally:
        shell.close()


def predeploy_json_jq() -> str:
    """reference/json-schema.md: a build with DEBUG on, its JSON report read with jq."""
    if not shutil.which("jq"):
        sys.exit("docs_examples: predeploy-json-jq runs jq, which is not installed (apt-get install jq)")
    shell = in_testproject()
    try:
        return (
            shell.run(
                "DEBUG=True python manage.py predeploy --only cicd.django --format json --output predeploy.json",
                expect=1,
            )
            + shell.run(
                """jq -r '.checks[] | select(.status == "failed" or .status == "error") | .id' predeploy.json"""
            )
            + shell.run(
                """jq -r '.checks[].findings[] | select(.blocking) | "\\(.code): \\(.message)"' predeploy.json"""
            )
        )
    finally:
        shell.close()


def sentry_check() -> str:
    """sentry.md: sentry_check in staging, against the test suite's stand-in for Sentry's ingest
    (tests/sentry_server.py accepts envelopes as Sentry does; no real Sentry is reachable from CI)."""
    sys.path.insert(0, str(ROOT))
    from tests.sentry_server import sentry_server

    shell = in_testproject("staging")
    try:
        with sentry_server() as server:
            shell.env.update(SENTRY_DSN=server.dsn, GITHUB_SHA="3f9c2e1d5b7a48c09e6f1a2b3c4d5e6f7a8b9c0d")
            return shell.run("python manage.py sentry_check", status=True)
    finally:
        shell.close()


def settings_guide_module() -> str:
    """The module under "A complete settings module" of docs/settings-guide.md, its ``...`` (the
    project's own apps) filled in as tests/test_settings_guide.py does."""
    text = (DOCS / "settings-guide.md").read_text()
    found = re.search(r"^## A complete settings module\n.*?^```python\n(.*?)^```", text, re.S | re.M)
    if not found:
        sys.exit("docs_examples: docs/settings-guide.md has no python block under '## A complete settings module'")
    apps = '"django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles"'
    return found[1].replace("INSTALLED_APPS = [...,", f"INSTALLED_APPS = [{apps},")


def guide_project() -> Shell:
    """A project fresh from startproject whose settings.py is the settings guide's module."""
    shell = Shell()
    startproject(shell).write_text(settings_guide_module())
    return shell


def contract_broken_environment() -> str:
    """settings-guide.md: startproject's manage.py in an environment the contract refuses."""
    shell = guide_project()
    try:
        return shell.run("DJANGO_ENV=production DEBUG=Flase python manage.py migrate", expect=2, status=True)
    finally:
        shell.close()


def contract_env_table() -> str:
    """settings-guide.md: manage.py env in production with the secret key in a file, two variables missing."""
    shell = guide_project()
    try:
        return shell.run("python -c 'import secrets; print(secrets.token_urlsafe(50))' > secret_key") + shell.run(
            "DJANGO_ENV=production SECRET_KEY_FILE=secret_key python manage.py env", expect=1, status=True
        )
    finally:
        shell.close()


def cicd_init_dry_run() -> str:
    """tutorial.md: what cicd_init would write into testproject."""
    shell = testproject_copy()
    try:
        return shell.run(
            "DJANGO_SETTINGS_MODULE=testproject.settings python manage.py cicd_init --database-vendor postgresql"
            " --dry-run"
        )
    finally:
        shell.close()


def cicd_init_refuses() -> str:
    """tutorial.md: cicd_init writes the files, then refuses to overwrite one the user changed."""
    shell = testproject_copy()
    try:
        return (
            shell.run("python manage.py cicd_init --database-vendor postgresql")
            + shell.run("echo '# our own change' >> Dockerfile")
            + shell.run("python manage.py cicd_init --database-vendor postgresql", expect=1, status=True)
        )
    finally:
        shell.close()


@functools.cache
def journey() -> tuple[str, str]:
    """tests/test_journey.py run for real (Docker engine, single-node Swarm, PostgreSQL): what its
    rollback_release --docker-service and the releases listing after it printed (JOURNEY_SHOW=1)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
        "JOURNEY_SHOW": "1",
        "CI": "true",  # a missing engine or server fails the test instead of skipping it
    }
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "tests/test_journey.py"],
        cwd=ROOT, env=env, text=True, capture_output=True, check=False, timeout=1800,
    )  # fmt: skip
    found = re.search(
        r"^(?P<rollback>(?:  \S.*\n)*rollback_release on database .*?)\n\n"
        r"(?P<releases>id  release .*?\n)\n",
        process.stdout,
        re.M | re.S,
    )
    if process.returncode != 0 or "1 passed" not in process.stdout or not found:
        sys.exit(f"docs_examples: tests/test_journey.py did not pass and print its output:\n{process.stdout[-5000:]}")
    return found["rollback"] + "\n", found["releases"]


def without_lines(text: str, labels: Iterable[str]) -> str:
    """``text`` without the lines of a report whose label (first word) is one of ``labels``."""
    dropped = set(labels)
    return "".join(line for line in text.splitlines(keepends=True) if (line.split() or [""])[0] not in dropped)


def table_columns(table: str, keep: Iterable[str]) -> str:
    """The columns ``keep`` (by header) of a table that ``manage.py releases`` prints, padded again."""
    lines = table.rstrip("\n").split("\n")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    cells = [[line[a:b].strip() for a, b in bounds] for line in lines]
    wanted = [i for i, name in enumerate(cells[0]) if name in set(keep)]
    widths = {i: max(len(row[i]) for row in cells) for i in wanted}
    return "".join("  ".join(row[i].ljust(widths[i]) for i in wanted).rstrip() + "\n" for row in cells)


def journey_rollback() -> str:
    """tutorial.md: the journey's rollback_release, without the now/target/after migration states."""
    return without_lines(journey()[0], {"now", "target", "after"})


def journey_releases() -> str:
    """tutorial.md: the journey's releases listing, without the backup and host columns."""
    keep = ["id", "release", "kind", "status", "started (UTC)", "seconds", "migrations", "image"]
    return table_columns(journey()[1], keep)


S3_SETTINGS = """\
import os

from testproject.settings import *  # noqa: F403

STORAGES["dbbackup"] = {  # noqa: F405
    "BACKEND": "storages.backends.s3.S3Storage",
    "OPTIONS": {
        "bucket_name": "shop-backups",
        "default_acl": "private",
        "endpoint_url": os.environ["S3_ENDPOINT"],  # leave it out for Amazon S3 itself
    },
}
"""

S3_LIST = (
    'python -c \'import boto3, os; s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"]); '
    '[print(o["Key"], o["Size"], "bytes", [g["Grantee"].get("URI", "owner") '
    'for g in s3.get_object_acl(Bucket="shop-backups", Key=o["Key"])["Grants"]]) '
    'for o in s3.list_objects_v2(Bucket="shop-backups")["Contents"]]\''
)


def tutorial_s3_backup() -> str:
    """tutorial.md: testproject's backups in an S3 bucket (moto's S3 server on 127.0.0.1, started as the
    test suite starts it; credentials from the environment, as boto3 reads them)."""
    sys.path.insert(0, str(ROOT))
    from tests.s3_server import moto_server

    with moto_server() as endpoint:
        shell = in_testproject()
        shell.env.update(
            S3_ENDPOINT=endpoint,
            AWS_ACCESS_KEY_ID="docs-example",
            AWS_SECRET_ACCESS_KEY=secrets.token_urlsafe(20),  # moto accepts any
            AWS_DEFAULT_REGION="us-east-1",
        )
        shell.write("shop_s3_settings.py", S3_SETTINGS)
        try:
            shell.run(
                'python -c \'import boto3, os; boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])'
                '.create_bucket(Bucket="shop-backups")\'',
                show=False,
            )
            return (
                shell.run("cat shop_s3_settings.py")
                + shell.run(
                    "DJANGO_SETTINGS_MODULE=shop_s3_settings python manage.py safe_migrate --release 1.0.0 "
                    "--verify-restore",
                    status=True,
                )
                + shell.run(S3_LIST)
            )
        finally:
            shell.close()


def tutorial_logs() -> str:
    """tutorial.md: a deploy of testproject with --log-format json, its event lines read with jq."""
    shell = in_testproject()
    fields = (
        "jq -c '{event, release, environment, migration, backup, status, exit_code} | with_entries(select(.value))'"
    )
    try:
        return (
            shell.run("python manage.py safe_migrate --release 1.0.0 --log-format json > report.txt 2> events.jsonl")
            + shell.run(f"{fields} events.jsonl | head -n 6")
            + shell.run(f"{fields} events.jsonl | tail -n 3")
            + shell.run("jq -r .event events.jsonl | sort | uniq -c")
        )
    finally:
        shell.close()


EXAMPLES: dict[str, Callable[[], str]] = {
    "recovery-sqlite": recovery("sqlite"),
    "recovery-postgresql": recovery("postgresql"),
    "recovery-mariadb": recovery("mysql"),
    "rollback-recovered": rollback_recovered,
    "check-unknown-key": check_unknown_key,
    "predeploy-testproject": predeploy_testproject,
    "settings-not-loaded": settings_not_loaded,
    "predeploy-json-jq": predeploy_json_jq,
    "sentry-check": sentry_check,
    "contract-broken-environment": contract_broken_environment,
    "contract-env-table": contract_env_table,
    "cicd-init-dry-run": cicd_init_dry_run,
    "cicd-init-refuses": cicd_init_refuses,
    "journey-rollback": journey_rollback,
    "journey-releases": journey_releases,
    "tutorial-s3-backup": tutorial_s3_backup,
    "tutorial-logs": tutorial_logs,
}

#: What changes from one run to the next; masked on both sides by --check, in this order.
VOLATILE = [
    (re.compile(r"\d+\.\d+s\b"), "<seconds>"),
    (re.compile(r"cicd-[\w.-]+?-\d{8}-\d{6}-[0-9a-f]{6}(\.[\w.]+)?"), "<backup>"),
    (re.compile(r"(/[\w.-]+)*/(cicd-docs|django-cicd-static)-\w+"), "<tmp>"),
    (re.compile(r"\b[0-9a-f]{16,64}\b"), "<hex>"),
    (re.compile(r"journey-web-[0-9a-f]{8}\b"), "journey-web-<run>"),
    (re.compile(r"\b\d+ bytes\b"), "<n> bytes"),
    (re.compile(r"ledger row \d+|row \d+"), "row <n>"),
    (re.compile(r"pid \d+"), "pid <n>"),
    (re.compile(r"\b127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"answered in \d+ ms"), "answered in <n> ms"),
    (re.compile(r"\b(SQLite|PostgreSQL|MariaDB) \d+(\.\d+)+\b"), r"\1 <version>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), "<time>"),
    (re.compile(r"(<time> +)\d+\.\d+\b"), r"\1<seconds>"),  # the seconds column of `manage.py releases`
    (re.compile(r"  +"), "  "),  # the padding of a column holding one of the values above
]


def normalised(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def regenerate(
    paths: Iterable[Path], examples: dict[str, Callable[[], str]], wanted: set[str], check: bool
) -> tuple[dict[str, str], list[str]]:
    """Run each wanted example named by a marker in ``paths`` (once, however many blocks show it) and
    rewrite its blocks, or with ``check`` only compare them. Returns the outputs and the stale blocks."""
    made: dict[str, str] = {}
    stale: list[str] = []
    for path in paths:
        text = path.read_text()
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path

        def replace(match: re.Match[str], shown: Path = shown) -> str:
            name = match["name"]
            if name not in examples:
                sys.exit(f"docs_examples: {shown} names an unknown example {name!r}")
            if name not in wanted:
                return match[0]
            if name not in made:
                print(f"running example {name} ...", file=sys.stderr, flush=True)
                made[name] = examples[name]()
            if normalised(made[name]) != normalised(match["body"]):
                diff = difflib.unified_diff(
                    normalised(match["body"]).splitlines(), normalised(made[name]).splitlines(),
                    "block", "fresh run", lineterm="", n=1,
                )  # fmt: skip
                stale.append(f"{shown}: {name}\n    " + "\n    ".join(diff))
            return f"<!-- example: {name} -->\n```console\n{made[name]}```\n"

        updated = MARKER.sub(replace, text)
        if not check and updated != text:
            path.write_text(updated)
    return made, stale


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="compare instead of rewriting; exit 1 when stale")
    parser.add_argument("--only", action="append", help="one example (repeatable)")
    options = parser.parse_args()
    wanted = set(options.only or EXAMPLES)
    unknown = wanted - set(EXAMPLES)
    if unknown:
        sys.exit(f"docs_examples: unknown example(s) {', '.join(sorted(unknown))}; known: {', '.join(EXAMPLES)}")
    made, stale = regenerate(pages(), EXAMPLES, wanted, options.check)
    missing = wanted - set(made)
    if options.only and missing:
        sys.exit(f"docs_examples: no block in README.md or docs/ shows {', '.join(sorted(missing))}")
    if options.check and stale:
        sys.exit(
            "docs_examples: these blocks differ from a fresh run (python scripts/docs_examples.py):\n  "
            + "\n  ".join(stale)
        )
    print(f"docs_examples: {len(made)} example(s) {'checked' if options.check else 'written'}", file=sys.stderr)


if __name__ == "__main__":
    main()
