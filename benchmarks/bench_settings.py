"""How much the environment contract and init_sentry add to `manage.py check`.

Runs `manage.py check` in fresh processes, alternating the testproject's settings (contract +
init_sentry, no DSN as in development) with benchmarks/plain_settings.py (the same values through
plain django-environ calls), and reports the difference of the medians of their CPU time (user +
system, so that other load on the machine does not count), measured in this one run.
A second pair measures with SENTRY_DSN set: then the plain settings call ``sentry_sdk.init()``
themselves (what a project without django-cicd writes), so the difference is what init_sentry adds
on top of the SDK's own import and init.

Budget: 20 ms for each pair. Exit 1 when either is over it.

    python benchmarks/bench_settings.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 20.0


def run_once(settings: str, extra_env: dict[str, str]) -> float:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT), **extra_env}
    if "SENTRY_DSN" not in extra_env:
        env.pop("SENTRY_DSN", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time (user + system) of the child: on a shared, loaded machine wall time mostly measures
    # the other processes.
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000


def measure(runs: int, extra_env: dict[str, str]) -> tuple[float, float]:
    (ROOT / "var").mkdir(exist_ok=True)  # the default SQLite database lives there
    contract, plain = [], []
    run_once("testproject.settings", extra_env)  # warm the file cache and .pyc files
    run_once("benchmarks.plain_settings", extra_env)
    for _ in range(runs):
        contract.append(run_once("testproject.settings", extra_env))
        plain.append(run_once("benchmarks.plain_settings", extra_env))
    return statistics.median(contract), statistics.median(plain)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base_env = {"DJANGO_ENV": "development"}
    contract, plain = measure(args.runs, base_env)
    added = contract - plain
    print(f"manage.py check, CPU time (user + system), median of {args.runs} runs each")
    print(f"  plain django-environ settings           {plain:8.1f} ms")
    print(
        f"  contract + init_sentry (no DSN)         {contract:8.1f} ms   added {added:+6.1f} ms "
        f"(budget {BUDGET_MS:.0f})"
    )
    dsn_env = {**base_env, "SENTRY_DSN": "http://0123456789abcdef@127.0.0.1:9/1"}
    with_dsn, plain2 = measure(args.runs, dsn_env)
    print(
        f"  plain + sentry_sdk.init (SENTRY_DSN set) {plain2:7.1f} ms\n"
        f"  contract + init_sentry (SENTRY_DSN set) {with_dsn:8.1f} ms   added {with_dsn - plain2:+6.1f} ms "
        f"(budget {BUDGET_MS:.0f})"
    )
    return 0 if added <= BUDGET_MS and with_dsn - plain2 <= BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
