"""How much the environment contract and init_sentry add to `manage.py check`.

Runs `manage.py check` in fresh processes, in pairs: the testproject's settings (contract +
init_sentry, no DSN as in development) and benchmarks/plain_settings.py (the same values through
plain django-environ calls), the order alternating from pair to pair. It reports the median CPU time
(user + system, so that other load on the machine counts less) of each, and what the contract adds:
the median of the paired differences, with their interquartile range. Pairing cancels the drift of
the machine's load during the run; the range shows how much the figure can be trusted (on two cores
shared with other jobs it is often wider than the budget).
A second set of pairs measures with SENTRY_DSN set: then the plain settings call
``sentry_sdk.init()`` themselves (what a project without django-cicd writes), so the difference is
what init_sentry adds on top of the SDK's own import and init.

``--instructions`` also counts, once per variant, the user-space instructions the process executes
under valgrind (cachegrind, PYTHONHASHSEED=0): the count does not depend on the load, and two runs
give the same number, so it shows work added in Python. It does not see time spent in the kernel
(page faults, mmap/munmap): on CPython 3.11+ an import at an unlucky stack depth can cost 20 ms of
system time that way with no instructions to show for it (CPython gh-142183; docs/sentry.md,
"Start-up cost"), so the budget is judged on CPU time only.

The children may write bytecode (PYTHONDONTWRITEBYTECODE is removed from their environment, the
first pair warms the .pyc files): an installed package has its .pyc, and compiling every module of
django-cicd from source would add about 150 ms of noise to every run, in both variants.

Budget: 20 ms for each pair, on the median of the paired CPU times. Exit 1 when either is over it,
2 when --instructions is given and valgrind is missing.

    python benchmarks/bench_settings.py [--runs 15] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 20.0
CONTRACT = "testproject.settings"
PLAIN = "benchmarks.plain_settings"
DSN = "http://0123456789abcdef@127.0.0.1:9/1"


def child_env(settings: str, extra_env: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT), **extra_env}
    if "SENTRY_DSN" not in extra_env:
        env.pop("SENTRY_DSN", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(settings: str, extra_env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        env=child_env(settings, extra_env),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time (user + system) of the child: on a shared, loaded machine wall time mostly measures
    # the other processes.
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000


def count_instructions(settings: str, extra_env: dict[str, str]) -> int:
    """Instructions executed by `manage.py check` (every process valgrind follows)."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--trace-children=yes",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            str(ROOT / "manage.py"),
            "check",
        ],
        env={**child_env(settings, extra_env), "PYTHONHASHSEED": "0"},
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    counts = re.findall(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if not counts:
        raise RuntimeError(f"valgrind printed no instruction count:\n{result.stderr[-2000:]}")
    return sum(int(count.replace(",", "")) for count in counts)


@dataclass
class Pairs:
    contract: list[float]
    plain: list[float]

    @property
    def added(self) -> list[float]:
        return [c - p for c, p in zip(self.contract, self.plain, strict=True)]

    def summary(self) -> tuple[float, float, float, float, float]:
        """(median contract, median plain, median added, first and third quartile of added)."""
        q1, _, q3 = statistics.quantiles(self.added, n=4)
        return statistics.median(self.contract), statistics.median(self.plain), statistics.median(self.added), q1, q3


def measure(runs: int, extra_env: dict[str, str]) -> Pairs:
    (ROOT / "var").mkdir(exist_ok=True)  # the default SQLite database lives there
    run_once(CONTRACT, extra_env)  # warm the file cache and write the .pyc files
    run_once(PLAIN, extra_env)
    pairs = Pairs([], [])
    for i in range(runs):
        order = (CONTRACT, PLAIN) if i % 2 == 0 else (PLAIN, CONTRACT)
        times = {settings: run_once(settings, extra_env) for settings in order}
        pairs.contract.append(times[CONTRACT])
        pairs.plain.append(times[PLAIN])
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="pairs of runs per setting (at least 2)")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions under valgrind (about 1 minute)"
    )
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    if args.instructions and shutil.which("valgrind") is None:
        print("--instructions needs valgrind on PATH (apt-get install valgrind).", file=sys.stderr)
        return 2
    base_env = {"DJANGO_ENV": "development"}
    dsn_env = {**base_env, "SENTRY_DSN": DSN}
    rows = [
        ("plain django-environ settings", "contract + init_sentry (no DSN)", base_env),
        ("plain + sentry_sdk.init (SENTRY_DSN set)", "contract + init_sentry (SENTRY_DSN set)", dsn_env),
    ]
    print(f"manage.py check, CPU time (user + system), median of {args.runs} pairs in alternating order")
    verdicts = []
    for plain_label, contract_label, env in rows:
        contract, plain, added, q1, q3 = measure(args.runs, env).summary()
        print(f"  {plain_label:<41}{plain:8.1f} ms")
        print(
            f"  {contract_label:<41}{contract:8.1f} ms   added {added:+6.1f} ms "
            f"(paired; IQR {q1:+.1f} to {q3:+.1f}; budget {BUDGET_MS:.0f})"
        )
        if args.instructions:
            contract_count = count_instructions(CONTRACT, env)
            plain_count = count_instructions(PLAIN, env)
            in_ms = (contract_count - plain_count) * plain / plain_count
            print(
                f"    user-space instructions (valgrind): {plain_count / 1e6:,.1f} M plain, "
                f"{contract_count / 1e6:,.1f} M contract; added {(contract_count - plain_count) / 1e6:+,.1f} M, "
                f"about {in_ms:+.1f} ms"
            )
        verdicts.append(added <= BUDGET_MS)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
