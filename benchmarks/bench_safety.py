"""The migration safety analysis on a large generated history, against the plain baseline and
django-migration-linter, as ratios measured in one run, on SQLite and PostgreSQL.

    python benchmarks/bench_safety.py [--apps 50] [--migrations 40] [--repeat 3] [--no-linter]
                                      [--vendors sqlite,postgresql] [--linter-timeout 1800] [--db-name NAME]

Each figure is the wall time of a fresh process (median of --repeat runs) on the project that
benchmarks/largeproject.py generates (50 apps x 40 migrations: over 2,000 migrations):

* baseline: a process that starts Django and loads the migration graph, nothing else;
* whole history: ``analyse_plan`` of every migration from an empty database (the default: tables
  created in the plan are new), SQL rendered. Target (issue 3): at most 3x the baseline;
* lint, operations only: every migration judged as if its tables existed (``exempt_new_tables=False``,
  ``render_sql=False``), the way django-migration-linter lints;
* lint with SQL: the same, with the SQL of every operation rendered and read by the SQL rules
  (the SQL of an operation no rule reads is rendered only when the operation has a finding, to
  show it). Target (issue 13): at most 5x the baseline;
* ``lintmigrations --no-cache`` of django-migration-linter (``pip install django-migration-linter``,
  see requirements/bench.txt; run once: it takes minutes, and is stopped after --linter-timeout
  seconds, which makes its figures lower bounds). Target: at least 30x slower than ours.

PostgreSQL: the database --db-name (default ``cicd_safety_bench``) on $BENCH_POSTGRES (default
postgres://postgres@127.0.0.1:5432) is created empty and dropped; nothing is migrated (neither
tool needs the tables). On a shared server, give a name of your own.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.largeproject import generate  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = "cicd_safety_bench"

BASELINE = """
import django
django.setup()
from django.db.migrations.loader import MigrationLoader
loader = MigrationLoader(None, ignore_no_migrations=True)
print(len(loader.graph.nodes), "migrations")
"""

ANALYSIS = """
import sys
import django
django.setup()
from django_cicd import planning
from django_cicd.migrations_safety import analyse_plan
loader = planning.load_graph()
plan = planning.forward_plan(loader, set())
report = analyse_plan(plan, loader=loader, exempt_new_tables={exempt}, render_sql={sql})
print(len(plan), "migrations", len(report.findings), "findings", len(report.not_rendered), "not rendered")
"""

LINTER_SETTINGS = """
from largeproject.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_migration_linter"]  # noqa: F405
"""


def run(project: Path, env: dict[str, str], args: list[str], timeout: float | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        # Only the linter gets a timeout: its time is then a lower bound, and so are the ratios.
        return time.perf_counter() - started, "TIMEOUT"
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        sys.exit(f"{' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, (result.stdout.strip().splitlines() or [""])[-1]


def median(project: Path, env: dict[str, str], args: list[str], repeat: int) -> tuple[float, str]:
    runs = [run(project, env, args) for _ in range(repeat)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{SERVER}/postgres", "-qAtc", sql], check=True, capture_output=True)


def bench_vendor(vendor: str, project: Path, options: argparse.Namespace) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)])}
    env["DJANGO_SETTINGS_MODULE"] = "largeproject.settings"
    if vendor == "postgresql":
        env["DATABASE_URL"] = f"{SERVER}/{options.db_name}"
    else:
        env.pop("DATABASE_URL", None)
    print(f"\n{vendor}")
    base, said = median(project, env, ["-c", BASELINE], options.repeat)
    print(f"  baseline: start Django, load the graph      {base:8.2f} s   ({said})")
    rows = [
        ("whole history (plan from empty, SQL)", "True", "True", "<= 3x baseline"),
        ("lint, operations only", "False", "False", ""),
        ("lint with SQL", "False", "True", "<= 5x baseline"),
    ]
    ours: dict[str, float] = {}
    for title, exempt, sql, target in rows:
        seconds, said = median(project, env, ["-c", ANALYSIS.format(exempt=exempt, sql=sql)], options.repeat)
        ours[title] = seconds
        print(f"  {title:<43}{seconds:8.2f} s   {seconds / base:5.2f}x baseline  {target}  ({said})")
    if options.no_linter:
        return
    if importlib.util.find_spec("django_migration_linter") is None:
        print("  lintmigrations: not installed (pip install -r requirements/bench.txt)")
        return
    (project / "bench_linter_settings.py").write_text(LINTER_SETTINGS)
    linter_env = {**env, "DJANGO_SETTINGS_MODULE": "bench_linter_settings"}
    args = ["manage.py", "lintmigrations", "--no-cache", "--quiet", "ok"]
    seconds, said = run(project, linter_env, args, timeout=options.linter_timeout or None)
    if said == "TIMEOUT":
        print(f"  lintmigrations --no-cache                  >{seconds:8.2f} s   (stopped after --linter-timeout)")
        bound = ">="
    else:
        print(f"  lintmigrations --no-cache                   {seconds:8.2f} s   ({said[:70]})")
        bound = ""
    for title in ("lint, operations only", "lint with SQL"):
        ratio = seconds / ours[title]
        print(f"    {title}: {bound}{ratio:.1f}x faster than lintmigrations (target >= 30x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--migrations", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-linter", action="store_true", help="Leave django-migration-linter out.")
    parser.add_argument("--vendors", default="sqlite,postgresql")
    parser.add_argument("--db-name", default=DATABASE, help="PostgreSQL database to create and drop")
    parser.add_argument(
        "--linter-timeout",
        type=float,
        default=1800,
        help="Stop lintmigrations after this many seconds and report the ratios as lower bounds (0: no limit).",
    )
    options = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="bench-safety-")) / "project"
    generate(project, apps=options.apps, migrations=options.migrations)
    vendors = [v.strip() for v in options.vendors.split(",") if v.strip()]
    print(f"project: {options.apps} apps x {options.migrations} migrations in {project}; median of {options.repeat}")
    for vendor in vendors:
        if vendor == "postgresql":
            psql(f"DROP DATABASE IF EXISTS {options.db_name}")
            psql(f"CREATE DATABASE {options.db_name}")
        try:
            bench_vendor(vendor, project, options)
        finally:
            if vendor == "postgresql":
                psql(f"DROP DATABASE IF EXISTS {options.db_name}")


if __name__ == "__main__":
    main()
