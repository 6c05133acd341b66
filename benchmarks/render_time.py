"""The safety analysis of the pending plan, in-process, and the share of it spent rendering SQL: a measurement.

Run it where ``manage.py`` would run, with the same environment (after bench_predeploy.py's
"unapplied" scenario, for instance):

    python /path/to/benchmarks/render_time.py

It prints the analysis' wall time, the part of it inside ``PartialRenderer.render``, the number of
findings and a digest of them (rule, migration, operation and SQL), so that two versions of the
renderer can be compared on the same plan: the digest must not change.
"""

from __future__ import annotations

import hashlib
import sys
import time

import django


def main() -> None:
    # This directory holds largeproject.py, which would shadow a generated project's package.
    del sys.path[0]
    django.setup()
    from django_cicd import planning
    from django_cicd.migrations_safety import analysis, rendering

    loader = planning.load_graph()
    plan = planning.forward_plan(loader, planning.applied_migrations())
    spent = 0.0
    render = rendering.PartialRenderer.render

    def timed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal spent
        started = time.perf_counter()
        try:
            return render(self, *args, **kwargs)
        finally:
            spent += time.perf_counter() - started

    rendering.PartialRenderer.render = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    reports = analysis.analyse_both(plan, loader=loader, table_sizes=False)
    total = time.perf_counter() - started
    findings = sorted(
        (f.rule_id, f.app_label, f.migration_name, f.operation_index or 0, f.sql) for r in reports for f in r.findings
    )
    digest = hashlib.sha1(repr(findings).encode(), usedforsecurity=False).hexdigest()[:12]
    print(
        f"plan {len(plan)} migrations: analysis {total:.3f} s, rendering {spent:.3f} s; "
        f"{len(findings)} findings, digest {digest}"
    )


if __name__ == "__main__":
    main()
