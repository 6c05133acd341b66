"""docs/migration-safety.md documents every rule of the analysis, and only those: a rule added to the
code without its section, or a section left behind by a retired rule, fails here."""

from __future__ import annotations

import re

import pytest

from django_cicd.migrations_safety import RULES
from tests.utils import ROOT

DOC = ROOT / "docs" / "migration-safety.md"
VENDOR_WORDS = {"postgresql": "PostgreSQL", "mysql": "MySQL"}


def sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^#### (cicd\.safety\.\w+)\s*$", text, flags=re.M)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    # A section ends where the next heading of any level starts.
    return {rule_id: re.split(r"^#", body, maxsplit=1, flags=re.M)[0] for rule_id, body in found.items()}


def test_every_rule_has_a_section_and_every_section_a_rule():
    documented = list(sections())
    assert sorted(set(RULES) - set(documented)) == [], "rules missing from docs/migration-safety.md"
    assert sorted(set(documented) - set(RULES)) == [], "sections of docs/migration-safety.md without a rule"
    assert len(documented) == len(set(documented)), "a rule is documented twice"


@pytest.mark.parametrize("rule_id", list(RULES))
def test_section_explains_the_rule(rule_id):
    rule = RULES[rule_id]
    body = sections()[rule_id]
    for label in ("**Catches**", "**Severity / vendor / when**", "**Safe pattern**"):
        assert label in body, f"{rule_id}: {label} missing"
    assert "**Why it is dangerous**" in body or "**Why it matters**" in body
    [meta] = [line for line in body.splitlines() if "**Severity / vendor / when**" in line]
    assert rule.severity.label in meta
    assert rule.when in meta
    if rule.vendors:
        assert all(VENDOR_WORDS[vendor] in meta for vendor in rule.vendors)
    else:
        assert "every vendor" in meta
    if rule.acceptable:
        assert f"**Accept**: `{rule_id}`" in body
    else:
        assert "**Accept**" not in body
