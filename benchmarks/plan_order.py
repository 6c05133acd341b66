"""The order migrations are applied in, found by Django (one search per leaf) and by django-cicd (one
search): a measurement.

Run it where ``manage.py`` would run, with the same environment (in bench_predeploy.py's generated
project, for instance; no database is needed):

    python /path/to/benchmarks/plan_order.py [--repeat 20]

It checks that both give the same order, then prints the median time of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import django


def timed(function: Callable[[], object], repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    # This directory holds largeproject.py, which would shadow a generated project's package.
    del sys.path[0]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    django.setup()
    from django_cicd import planning

    graph = planning.load_graph().graph
    leaves = graph.leaf_nodes()

    def djangos() -> list[tuple[str, str]]:
        # What MigrationLoader.project_state() walks, and migrate's plan is made the same way.
        return graph._generate_plan(leaves, True)

    def ours() -> list[tuple[str, str]]:
        return planning.forwards_order(graph, leaves)

    if djangos() != ours():
        raise SystemExit("the two orders differ")
    django_s = timed(djangos, options.repeat)
    ours_s = timed(ours, options.repeat)
    print(
        f"{len(graph.nodes)} migrations, {len(leaves)} leaves, same order; median of {options.repeat}: "
        f"Django {django_s * 1000:.1f} ms, django-cicd {ours_s * 1000:.1f} ms, ratio {ours_s / django_s:.2f}x"
    )


if __name__ == "__main__":
    main()
