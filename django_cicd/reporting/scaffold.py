"""The text of ``manage.py cicd_init``: a line per file, and what to do about the ones left alone."""

from __future__ import annotations

from typing import Any

from django.core.management.color import Style


def cicd_init_text(report: Any, style: Style, verbosity: int = 1) -> str:
    files = report.files
    width = max((len(r.action) for r in files), default=0)
    lines = [f"{r.action:<{width}}  {r.path}" for r in files] if verbosity >= 1 else []
    lines.append((style.ERROR if report.exit_code else style.SUCCESS)(report.summary))
    return "\n".join(lines) + "\n"
