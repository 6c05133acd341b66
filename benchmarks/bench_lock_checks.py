"""What verifying the deploy lock costs per migration, over a long plan, on PostgreSQL and MariaDB.

    python benchmarks/bench_lock_checks.py [--apps 5] [--migrations 20] [--repeat 3] [--vendors postgresql,mariadb]

bench_safe_migrate.py applies two migrations, so the checks every run makes once (before the
backup, before the first change, before recovery would start) dominate its per-migration figure.
Here a generated project (benchmarks/largeproject.py, --apps x --migrations) is migrated from an
empty database by ``safe_migrate --no-backup --format json``; the report's ``lock_checks`` gives the
number of checks the run made itself and the time they took (the heartbeat thread's checks run
beside the migrations and are counted apart). Printed per vendor: checks per migration, ms per
check, ms per migration (the median of --repeat runs), and the share of the run's wall time.

Databases ``cicd_lock_bench`` are created and dropped by the script (BENCH_POSTGRES / BENCH_MARIADB
name other servers).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.largeproject import generate  # noqa: E402

SERVERS = {
    "postgresql": os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
    "mariadb": os.environ.get("BENCH_MARIADB", "mysql://root@127.0.0.1:3306"),
}
NAME = "cicd_lock_bench"


def recreate(vendor: str) -> None:
    if vendor == "postgresql":
        for sql in (f"DROP DATABASE IF EXISTS {NAME}", f"CREATE DATABASE {NAME}"):
            subprocess.run(["psql", f"{SERVERS[vendor]}/postgres", "-qAtc", sql], check=True, capture_output=True)
    else:
        sql = f"DROP DATABASE IF EXISTS {NAME}; CREATE DATABASE {NAME}"
        subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", "-e", sql], check=True, capture_output=True)


def drop(vendor: str) -> None:
    if vendor == "postgresql":
        subprocess.run(["psql", f"{SERVERS[vendor]}/postgres", "-qAtc", f"DROP DATABASE IF EXISTS {NAME}"], check=False)
    else:
        subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {NAME}"], check=False)


def run(project: Path, env: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    process = subprocess.run(
        [
            sys.executable,
            str(project / "manage.py"),
            "safe_migrate",
            "--no-backup",
            "--release",
            "bench",
            "--format",
            "json",
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"safe_migrate exited {process.returncode}:\n{process.stdout[-3000:]}{process.stderr[-3000:]}")
    return seconds, json.loads(process.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5)
    parser.add_argument("--migrations", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vendors", default="postgresql,mariadb")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lock-"))
    project = generate(work / "project", apps=options.apps, migrations=options.migrations, seed=0)
    try:
        for vendor in options.vendors.split(","):
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "largeproject.settings",
                "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
                "DATABASE_URL": f"{SERVERS[vendor]}/{NAME}",
                "DJANGO_ENV": "staging",  # --no-backup: the backup's cost is bench_safe_migrate.py's subject
            }
            for name in ("SENTRY_DSN", "CICD_ENV_CONTRACT", "GITHUB_STEP_SUMMARY"):
                env.pop(name, None)
            rows = []
            for _ in range(options.repeat):
                recreate(vendor)
                seconds, document = run(project, env)
                applied = sum(1 for step in document["plan"] if step["status"] == "applied")
                checks = document["lock_checks"]
                rows.append((seconds, checks["count"], checks["seconds"], applied))
            drop(vendor)
            wall = statistics.median(r[0] for r in rows)
            count = statistics.median(r[1] for r in rows)
            spent = statistics.median(r[2] for r in rows)
            applied = rows[0][3]
            per_migration = spent * 1000 / max(applied, 1)
            print(
                f"{vendor:10}  {applied} migrations, {count:.0f} checks ({count / max(applied, 1):.2f} per migration), "
                f"{spent * 1000 / max(count, 1):.3f} ms per check, {per_migration:.3f} ms per migration "
                f"(target 2 ms), {spent / wall * 100:.2f}% of the run's {wall:.1f} s  "
                f"[per-run ms/migration: {', '.join(f'{r[2] * 1000 / max(r[3], 1):.3f}' for r in rows)}]"
            )
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
