"""Peak memory of safe_migrate with its backup in S3, on a small database and on one 10x larger.

    python benchmarks/bench_s3_backup.py [--database sqlite|postgres] [--small-mb 20] [--factor 10]

Backups go to STORAGES["dbbackup"] on django-storages' S3Storage, served by moto's S3 server on
127.0.0.1 (started in its own process, so its memory is not counted). For each size the script runs, as
``manage.py`` processes, ``safe_migrate`` (backup, sha256 read back from the bucket, the two migrations of
the catalog_next scenario) and ``safe_migrate --verify-restore`` (the same, and the backup read back
again and restored into a scratch database), and reports each one's max RSS. Streamed means flat: the
ratio large / small should stay near 1.0x, where reading the dump into memory would approach the
size ratio. The filler table holds random (incompressible) bytes.

With --database postgres the database ``cicd_s3_bench`` on BENCH_POSTGRES (default
postgres://postgres@127.0.0.1:5432) is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.s3_server import moto_server  # noqa: E402

SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
NAME = "cicd_s3_bench"
ROW_BYTES = 1000


def manage(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run manage.py; return (max RSS in KiB of that process, its stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        out.seek(0)
        stdout = out.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"manage.py {' '.join(args)} failed:\n{stdout}{err.read().decode()}")
    return usage.ru_maxrss, stdout


def psql(sql: str, database: str = "postgres") -> str:
    return subprocess.run(
        ["psql", f"{SERVER}/{database}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def fill(database: str, url: str, megabytes: int) -> None:
    """(Re)create the filler table with ``megabytes`` of random bytes."""
    rows = megabytes * 1024 * 1024 // ROW_BYTES
    if database == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute("DROP TABLE IF EXISTS bench_filler")
            connection.execute("CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, payload BLOB)")
            connection.execute(
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?) "
                "INSERT INTO bench_filler SELECT x, randomblob(?) FROM g",
                [rows, ROW_BYTES],
            )
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute("VACUUM")
    else:
        psql("DROP TABLE IF EXISTS bench_filler", NAME)
        psql(
            "CREATE TABLE bench_filler AS SELECT g AS id, "
            f"(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, {ROW_BYTES // 32}) WHERE g > 0) "
            f"AS payload FROM generate_series(1, {rows}) g",
            NAME,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--small-mb", type=int, default=20)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=0,
        help="OPTIONS['transfer_config'] = TransferConfig(max_concurrency=N) with N parts read ahead into memory "
        "(max_in_memory_upload_chunks); 0: boto3's defaults (10 and 10)",
    )
    options = parser.parse_args()
    import boto3

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    url = f"sqlite:///{work}/bench.sqlite3" if options.database == "sqlite" else f"{SERVER}/{NAME}"
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}
    if options.database == "postgres":
        psql(f"DROP DATABASE IF EXISTS {NAME}")
        psql(f"CREATE DATABASE {NAME}")
    results: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        with moto_server() as endpoint:
            bucket = "bench-backups"
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            ).create_bucket(Bucket=bucket)
            env = {
                **os.environ,
                **credentials,
                "DJANGO_SETTINGS_MODULE": "tests.scenarios.migrate.settings",
                "DJANGO_CICD_TEST_DIR": str(work),
                "DATABASE_URL": url,
                "CICD_TEST_CATALOG": "catalog_next",
                "CICD_TEST_S3_BUCKET": bucket,
                "CICD_TEST_S3_ENDPOINT": endpoint,
                "CICD_TEST_S3_MAX_CONCURRENCY": str(options.max_concurrency or ""),
            }
            env.pop("DJANGO_ENV", None)
            manage("migrate", "catalog", "0005", env=env)
            manage("migrate", env={**env, "CICD_TEST_CATALOG": ""})
            manage("migrate", "catalog", "0005", env=env)
            for label, megabytes in (("small", options.small_mb), ("large", options.small_mb * options.factor)):
                fill(options.database, url, megabytes)
                results[label] = {}
                for run, extra in (("safe_migrate", ()), ("safe_migrate --verify-restore", ("--verify-restore",))):
                    rss, stdout = manage("safe_migrate", "--release", label, "--format", "json", *extra, env=env)
                    results[label][run] = (rss, json.loads(stdout)["backup"]["size"])
                    manage("migrate", "catalog", "0005", env=env)
    finally:
        if options.database == "postgres":
            psql(f"DROP DATABASE IF EXISTS {NAME}")
        shutil.rmtree(work, ignore_errors=True)

    concurrency = options.max_concurrency or "10 (boto3's default)"
    print(f"{options.database}, backups in S3 (moto's server on 127.0.0.1), upload max_concurrency {concurrency}")
    for run in ("safe_migrate", "safe_migrate --verify-restore"):
        (small_rss, small_size), (large_rss, large_size) = results["small"][run], results["large"][run]
        print(
            f"{run:32} backup {small_size / 2**20:6.1f} MB -> peak RSS {small_rss / 1024:6.1f} MB; "
            f"backup {large_size / 2**20:6.1f} MB -> peak RSS {large_rss / 1024:6.1f} MB; "
            f"ratio {large_rss / small_rss:.2f}x for {large_size / small_size:.1f}x the data"
        )


if __name__ == "__main__":
    main()
