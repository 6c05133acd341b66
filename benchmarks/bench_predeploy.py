"""predeploy against the plain Django commands a CI job runs one after another, on PostgreSQL.

    python benchmarks/bench_predeploy.py [--apps 50] [--migrations 40] [--repeat 3] [--db-name NAME]
                                          [--keep-db] [--keep]
    make benchmark BENCH=predeploy BENCH_ARGS='--repeat 5'

(BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432, names the server.)

A project of --apps x --migrations is generated (benchmarks/largeproject.py) and migrated into the
PostgreSQL database --db-name (created and dropped by the script). Every command runs as its own
``manage.py`` process, as in CI; wall time and CPU time (user + system of the process itself, which
other load on a shared machine disturbs less) are medians of --repeat runs, peak memory the largest
max RSS of the process (``wait4``). The commands alternate, so slow drift of the machine's load hits
both sides alike. Migrating the generated history takes a while (about 15 minutes for 50 x 40 on a
busy 2-CPU machine): --keep-db keeps the migrated database as a template for the next run.

The three commands the issue compares against (``check --deploy --fail-level WARNING``,
``makemigrations --check --dry-run``, ``migrate --check``) are set against ``predeploy --skip
cicd.static.collect``; the static-files check is measured on its own beside ``collectstatic
--noinput`` (predeploy runs it with post-processing into a temporary directory, as collectstatic
does into STATIC_ROOT). ``showmigrations`` is the fourth command many pipelines run to see what is
pending; it is reported, and in the "all five" ratio.

Two scenarios:

* migrated: every migration is applied;
* unapplied: the same database with the rows of the later migrations of every app removed from
  django_migrations (and everything depending on them), so ``migrate`` would have ~half the
  history to run. predeploy then also analyses the pending plan (cicd.migrations.safety and
  cicd.migrations.reversible); the plain commands have no equivalent, so the per-check durations of
  predeploy's own JSON report are printed as the profile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.largeproject import generate  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")

THREE = {
    "check --deploy": ["check", "--deploy", "--fail-level", "WARNING"],
    "makemigrations --check": ["makemigrations", "--check", "--dry-run"],
    "migrate --check": ["migrate", "--check"],
}
EXTRA = {
    "showmigrations": ["showmigrations"],
    "collectstatic": ["collectstatic", "--noinput", "--clear"],
}
PREDEPLOY_NO_STATIC = ["predeploy", "--skip", "cicd.static.collect"]
PREDEPLOY_STATIC_ONLY = ["predeploy", "--only", "cicd.static.collect"]
PREDEPLOY_FULL = ["predeploy"]

# Run inside the project (manage.py shell): forget the later half of every app's history, and whatever
# depends on it, so the recorded history stays consistent.
UNAPPLY = """
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
loader = MigrationLoader(connection)
builtin = {{"admin", "auth", "contenttypes", "sessions", "django_cicd", "dbbackup"}}
apps = {{label for label, _ in loader.graph.leaf_nodes()}} - builtin
todo = [key for key in loader.graph.nodes if key[0] in apps and int(key[1][:4]) > {keep}]
drop = set()
while todo:
    key = todo.pop()
    if key not in drop:
        drop.add(key)
        todo.extend(child.key for child in loader.graph.node_map[key].children)
recorder = MigrationRecorder(connection)
for app, name in drop:
    recorder.record_unapplied(app, name)
print(len(drop))
"""


@dataclass
class Measure:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: int = 0
    exit_codes: set[int] = field(default_factory=set)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system CPU seconds of the manage.py process
    rss_kib: int
    code: int


def psql(sql: str, database: str = "postgres") -> str:
    return subprocess.run(
        ["psql", f"{SERVER}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def manage(project: Path, env: dict[str, str], args: list[str], ok: tuple[int, ...] = (0, 1)) -> Run:
    """Run ``manage.py args`` in the project, as CI does; exit when the exit code is not in ``ok``."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(project / "manage.py"), *args], env=env, cwd=project, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            out.seek(0)
            sys.exit(f"manage.py {' '.join(args)} exited {code}:\n{out.read().decode(errors='replace')[-4000:]}")
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code)


def measure_all(project: Path, env: dict[str, str], commands: dict[str, list[str]], repeat: int) -> dict[str, Measure]:
    results = {name: Measure() for name in commands}
    for args in commands.values():  # warm-up: .pyc files and the file cache
        manage(project, env, args)
    for _ in range(repeat):
        for name, args in commands.items():
            run = manage(project, env, args)
            results[name].seconds.append(run.seconds)
            results[name].cpu.append(run.cpu)
            results[name].rss_kib = max(results[name].rss_kib, run.rss_kib)
            results[name].exit_codes.add(run.code)
    return results


def profile(project: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """Per-check durations from predeploy's own JSON report (one more run)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        manage(project, env, [*PREDEPLOY_FULL, "--format", "json", "--output", report.name])
        data = json.loads(Path(report.name).read_text())
    return sorted(((c["id"], c["duration_ms"]) for c in data["checks"]), key=lambda item: -item[1])


def scenario(title: str, project: Path, env: dict[str, str], repeat: int) -> dict[str, float]:
    commands = {**THREE, **EXTRA, "predeploy (no static)": PREDEPLOY_NO_STATIC}
    commands["predeploy (static only)"] = PREDEPLOY_STATIC_ONLY
    commands["predeploy"] = PREDEPLOY_FULL
    results = measure_all(project, env, commands, repeat)
    print(f"\n== {title} (median of {repeat} runs, each a fresh manage.py process) ==")
    print(f"  {'command':<26} {'wall':>8} {'CPU':>8}   {'max RSS':>10}   exit")
    for name, m in results.items():
        codes = ",".join(str(c) for c in sorted(m.exit_codes))
        print(f"  {name:<26} {m.median:7.2f}s {m.cpu_median:7.2f}s   {m.rss_kib / 1024:7.1f} MiB   {codes}")
    three = [results[name] for name in THREE]
    ours = results["predeploy (no static)"]
    ratios = {
        "sum": ours.median / sum(m.median for m in three),
        "slowest": ours.median / max(m.median for m in three),
        "memory": ours.rss_kib / max(m.rss_kib for m in three),
        "cpu sum": ours.cpu_median / sum(m.cpu_median for m in three),
        "cpu slowest": ours.cpu_median / max(m.cpu_median for m in three),
    }
    five = [*three, results["showmigrations"], results["collectstatic"]]
    full = results["predeploy"].median / sum(m.median for m in five)
    static = results["predeploy (static only)"].median / results["collectstatic"].median
    print(f"  predeploy (no static) / sum of the three      wall {ratios['sum']:.2f}x  CPU {ratios['cpu sum']:.2f}x")
    print(
        f"  predeploy (no static) / slowest of the three  wall {ratios['slowest']:.2f}x  "
        f"CPU {ratios['cpu slowest']:.2f}x"
    )
    print(f"  predeploy peak memory / largest of the three  {ratios['memory']:.2f}x")
    print(f"  predeploy (all checks) / all five commands    wall {full:.2f}x")
    print(f"  static check alone / collectstatic --noinput  wall {static:.2f}x")
    print("  predeploy's own per-check durations (JSON report, one run):")
    for check_id, ms in profile(project, env)[:8]:
        print(f"    {check_id:<30} {ms:9.1f} ms")
    return ratios


def database_exists(name: str) -> bool:
    return psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--migrations", type=int, default=40, help="migrations per app")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-name", default="cicd_predeploy_bench", help="PostgreSQL database to create and drop")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="keep the migrated database as DB_NAME_migrated, and reuse it on the next run with the same sizes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated project (its path is printed)")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-predeploy-"))
    project = generate(work / "project", apps=options.apps, migrations=options.migrations, seed=options.seed)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "largeproject.settings",
        # The checkout this script belongs to, not whatever django_cicd the interpreter has installed.
        "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
        "DATABASE_URL": f"{SERVER}/{options.db_name}",
        "DJANGO_ENV": "production",
    }
    for name in ("SENTRY_DSN", "GITHUB_STEP_SUMMARY", "CICD_ENV_CONTRACT"):
        env.pop(name, None)
    size = f"{options.apps}x{options.migrations}s{options.seed}"
    template = f"{options.db_name}_migrated"
    print(f"project: {options.apps} apps x {options.migrations} migrations in {project}")
    psql(f"DROP DATABASE IF EXISTS {options.db_name}")
    reuse = (
        database_exists(template)
        and psql(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{template}'").strip()
        == size
    )
    passed: dict[str, dict[str, float]] = {}
    try:
        if reuse:
            psql(f"CREATE DATABASE {options.db_name} TEMPLATE {template}")
            print(f"reused the migrated database {template}")
        else:
            psql(f"DROP DATABASE IF EXISTS {template}")
            psql(f"CREATE DATABASE {options.db_name}")
            started = time.perf_counter()
            manage(project, env, ["migrate", "--noinput"], ok=(0,))
            print(f"migrate of the whole history: {time.perf_counter() - started:.1f} s")
            if options.keep_db:
                psql(f"CREATE DATABASE {template} TEMPLATE {options.db_name}")
                psql(f"COMMENT ON DATABASE {template} IS '{size}'")
        passed["migrated"] = scenario("all migrated", project, env, options.repeat)
        manage(project, env, ["shell", "-c", UNAPPLY.format(keep=options.migrations // 2)], ok=(0,))
        recorded = psql(
            "SELECT count(*) FROM django_migrations WHERE app NOT IN "
            "('admin', 'auth', 'contenttypes', 'sessions', 'django_cicd')",
            options.db_name,
        ).strip()
        total = options.apps * options.migrations
        print(f"\nunapplied scenario: {recorded} of the project's {total} migrations still recorded as applied")
        passed["unapplied"] = scenario("many migrations unapplied", project, env, options.repeat)
    finally:
        psql(f"DROP DATABASE IF EXISTS {options.db_name}")
        if not options.keep_db:
            psql(f"DROP DATABASE IF EXISTS {template}")
        if not options.keep:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    print("\nsummary (targets of issue 2, on wall time: sum <= 0.5x, slowest <= 1.2x; memory <= 1.3x)")
    limits = {"sum": 0.5, "slowest": 1.2, "memory": 1.3}
    for name, ratios in passed.items():
        verdicts = ", ".join(
            f"{key} {ratios[key]:.2f}x {'met' if ratios[key] <= limits[key] else 'MISSED'}" for key in limits
        )
        print(f"  {name:<10} {verdicts}   (CPU: sum {ratios['cpu sum']:.2f}x, slowest {ratios['cpu slowest']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
