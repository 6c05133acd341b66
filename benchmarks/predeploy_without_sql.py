"""``manage.py predeploy`` with the safety analysis' SQL rendering switched off: a measurement, not a mode.

What predeploy would cost if the analysis rendered no SQL (its SQL rules then find nothing, so the
report is not the real one). Run it where ``manage.py`` would run, with the same environment:

    python /path/to/benchmarks/predeploy_without_sql.py --skip cicd.static.collect

and compare its time with ``manage.py predeploy`` and the plain commands (benchmarks/README.md).
"""

from __future__ import annotations

import sys

import django


def main() -> None:
    # This directory holds largeproject.py, which would shadow a generated project's package.
    del sys.path[0]
    django.setup()
    from django.core.management import execute_from_command_line

    from django_cicd.migrations_safety import analysis

    analysis._Walker._renders = lambda *args, **kwargs: False  # type: ignore[method-assign]
    execute_from_command_line(["manage.py", "predeploy", *sys.argv[1:]])


if __name__ == "__main__":
    main()
