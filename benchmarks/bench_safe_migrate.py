"""safe_migrate against the plain tools, on PostgreSQL, as ratios measured in one run.

    python benchmarks/bench_safe_migrate.py [--size-mb 500] [--repeat 3]

1. nothing to apply: ``safe_migrate`` / ``migrate`` (both as ``manage.py`` processes);
2. with a backup of a database of --size-mb (filled inside PostgreSQL with generate_series):
   ``safe_migrate`` / (``pg_dump -Fc`` + ``migrate``), for the two migrations of the catalog_next scenario;
3. ``safe_migrate --rehearse`` / (``CREATE DATABASE ... TEMPLATE`` + migrate + reverse + migrate, by hand);
4. peak memory (max RSS) of safe_migrate on the big database / on the same database without the big table.

The database ``cicd_migrate_bench`` is created and dropped by the script.
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
SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
NAME = "cicd_migrate_bench"


def psql(sql: str, database: str = "postgres") -> str:
    url = f"{SERVER}/{database}"
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True
    ).stdout


LAST_OUTPUT: list[str] = [""]
LAST_CPU: list[float] = [0.0]


def manage(*args: str, env: dict[str, str]) -> tuple[float, int]:
    """Run manage.py; return (seconds, max RSS in KiB of that process itself). Its stdout is kept in
    LAST_OUTPUT."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        LAST_CPU[0] = usage.ru_utime + usage.ru_stime
        out.seek(0)
        LAST_OUTPUT[0] = out.read().decode()
        if process.returncode != 0:
            err.seek(0)
            sys.exit(
                f"manage.py {' '.join(args)} failed ({process.returncode}):\n{LAST_OUTPUT[0]}{err.read().decode()}"
            )
    return seconds, usage.ru_maxrss


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-safe-migrate-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.scenarios.migrate.settings",
        "DJANGO_CICD_TEST_DIR": str(work),
        "DATABASE_URL": f"{SERVER}/{NAME}",
        "CICD_TEST_CATALOG": "catalog_next",
    }
    env.pop("DJANGO_ENV", None)
    psql(f"DROP DATABASE IF EXISTS {NAME}")
    psql(f"CREATE DATABASE {NAME}")
    try:
        manage("migrate", "catalog", "0005", env=env)
        manage("migrate", env={**env, "CICD_TEST_CATALOG": ""})  # everything else, then catalog stays at 0005
        manage("migrate", "catalog", "0005", env=env)

        # 1. nothing to apply
        settled = {**env, "CICD_TEST_CATALOG": ""}
        plain, ours, plain_cpu, ours_cpu = [], [], [], []
        for _ in range(options.repeat):  # interleaved, so that a busy spell of the machine hits both sides
            plain.append(manage("migrate", env=settled)[0])
            plain_cpu.append(LAST_CPU[0])
            ours.append(manage("safe_migrate", "--release", "bench", env=settled)[0])
            ours_cpu.append(LAST_CPU[0])
        nothing_ratio = statistics.median(ours) / statistics.median(plain)
        nothing_cpu_ratio = statistics.median(ours_cpu) / statistics.median(plain_cpu)

        # small-database peak memory, for the memory ratio
        _, _ = manage("migrate", "catalog", "0005", env=env)
        _, small_rss = manage("safe_migrate", "--release", "small", env=env)
        manage("migrate", "catalog", "0005", env=env)

        # 2. backup of a big database
        rows = options.size_mb * 1024 * 1024 // 260
        psql(
            "CREATE TABLE bench_filler AS SELECT g AS id, repeat(md5(g::text), 7) AS payload "
            f"FROM generate_series(1, {rows}) g",
            NAME,
        )
        size = int(psql(f"SELECT pg_database_size('{NAME}')", NAME))
        dump = work / "plain.dump"
        by_hand, safe = [], []
        big_rss = 0
        checks: list[tuple[int, float, int]] = []
        for _ in range(options.repeat):
            seconds = timed(["pg_dump", "-Fc", "-f", str(dump), f"{SERVER}/{NAME}"])
            seconds += manage("migrate", env=env)[0]
            by_hand.append(seconds)
            manage("migrate", "catalog", "0005", env=env)
            dump.unlink()
            seconds, rss = manage("safe_migrate", "--release", "big", "--format", "json", env=env)
            document = json.loads(LAST_OUTPUT[0])
            migrations = sum(1 for step in document["plan"] if step["status"] == "applied")
            checks.append((document["lock_checks"]["count"], document["lock_checks"]["seconds"], migrations))
            safe.append(seconds)
            big_rss = max(big_rss, rss)
            manage("migrate", "catalog", "0005", env=env)
            for backup in (work / "backups").glob("cicd-*"):
                backup.unlink()
        backup_ratio = statistics.median(safe) / statistics.median(by_hand)

        # 3. rehearsal
        scratch = f"{NAME}_byhand"
        scratch_env = {**env, "DATABASE_URL": f"{SERVER}/{scratch}"}
        hand, rehearsed = [], []
        for _ in range(options.repeat):
            started = time.perf_counter()
            psql(f"CREATE DATABASE {scratch} TEMPLATE {NAME}")
            manage("migrate", env=scratch_env)
            manage("migrate", "catalog", "0005", env=scratch_env)
            manage("migrate", env=scratch_env)
            psql(f"DROP DATABASE {scratch}")
            hand.append(time.perf_counter() - started)
            rehearsed.append(manage("safe_migrate", "--rehearse", env=env)[0])
        rehearse_ratio = statistics.median(rehearsed) / statistics.median(hand)
    finally:
        psql(f"DROP DATABASE IF EXISTS {NAME}_byhand")
        psql(f"DROP DATABASE IF EXISTS {NAME}")

    print(f"database size for the backup run: {size / 1024 / 1024:.0f} MB")
    count, seconds, migrations = (sum(c[i] for c in checks) for i in range(3))
    print(
        f"nothing to apply:   safe_migrate / migrate                    = {nothing_ratio:.2f}x (limit 1.05x; "
        f"CPU time {nothing_cpu_ratio:.2f}x)"
    )
    print(f"with a backup:      safe_migrate / (pg_dump -Fc + migrate)    = {backup_ratio:.2f}x (limit 1.0x)")
    print(
        f"lock liveness:      {count} checks by the runs for {migrations} migrations, {seconds * 1000:.2f} ms in all = "
        f"{seconds * 1000 / max(migrations, 1):.3f} ms per migration (target 2 ms; the heartbeat thread's are apart)"
    )
    print(f"rehearsal:          --rehearse / (template + migrate x3)      = {rehearse_ratio:.2f}x (limit 1.3x)")
    print(
        f"peak memory:        max RSS on {size / 1024 / 1024:.0f} MB / on a small database = {big_rss / small_rss:.2f}x"
    )


if __name__ == "__main__":
    main()
