from __future__ import annotations

import json

from django_cicd.report import Report


def render(report: Report) -> str:
    """The versioned JSON document; its schema is documented in docs/reference/json-schema.md."""
    return json.dumps(report.as_dict(), indent=2, sort_keys=False) + "\n"
