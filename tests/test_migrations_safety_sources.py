"""Which migrations the safety analysis looks at: added since a git ref (a real git repository in a
temporary directory), named ones, and predeploy's --migrations-since / --migrations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from django.test import override_settings

from django_cicd import planning
from django_cicd.migrations_safety import SelectionError, analyse_selection, migrations_since, named_migrations
from tests.utils import ROOT, run_command

pytestmark = pytest.mark.django_db(databases="__all__")

FLAGGED = ROOT / "tests" / "scenarios" / "safety" / "flagged"
FLAGGED_MODULE = "tests.scenarios.safety.flagged"


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git checkout holding a copy of the ``flagged`` scenario as the package ``sincepkg``, importable.

    Commit ``base`` has 0001 and 0002; a later commit adds 0003; 0004 is a new file not committed yet.
    """
    package = tmp_path / "sincepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    names = ["0001_initial", "0002_remove_gadget_legacy", "0003_delete_legacy", "0004_rename_gadget_name_label"]
    for name in names[:2]:
        shutil.copy(FLAGGED / f"{name}.py", package)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    git(tmp_path, "tag", "base")
    shutil.copy(FLAGGED / f"{names[2]}.py", package)
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "delete legacy")
    shutil.copy(FLAGGED / f"{names[3]}.py", package)
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(MIGRATION_MODULES={"catalog": "sincepkg"}):
        yield tmp_path
    for module in [m for m in sys.modules if m == "sincepkg" or m.startswith("sincepkg.")]:
        del sys.modules[module]


# --- since a git ref -------------------------------------------------------------------------------


def test_migrations_added_since_a_ref_committed_or_not(repo):
    selection = migrations_since("base", cwd=str(repo))
    assert selection.keys == [("catalog", "0003_delete_legacy"), ("catalog", "0004_rename_gadget_name_label")]
    assert selection.description == "migration files added since base"
    assert selection.empty_reason is None
    report = analyse_selection(selection)
    assert report.migrations == ["catalog.0003_delete_legacy", "catalog.0004_rename_gadget_name_label"]
    assert {(f.migration_name, f.rule_id) for f in report.findings} == {
        ("0003_delete_legacy", "cicd.safety.delete_model"),
        ("0004_rename_gadget_name_label", "cicd.safety.rename_field"),
    }


def test_nothing_added_since_a_ref_is_an_empty_selection_with_its_reason(repo):
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rename")
    selection = migrations_since("HEAD", cwd=str(repo))
    assert selection.keys == []
    assert selection.empty_reason == (
        "no migration file was added since HEAD (git diff --diff-filter=A HEAD, untracked files)"
    )


def test_unknown_ref_says_how_to_get_it(repo):
    with pytest.raises(SelectionError) as raised:
        migrations_since("origin/nope", cwd=str(repo))
    assert str(raised.value) == (
        "unknown git ref 'origin/nope': fetch it first (a shallow CI clone lacks it: fetch the history, e.g. "
        "actions/checkout with fetch-depth: 0), or pass a branch, tag or commit that exists."
    )


def test_outside_a_git_checkout(tmp_path):
    with pytest.raises(SelectionError, match=r"is not inside a git checkout, and --migrations-since needs one"):
        migrations_since("main", cwd=str(tmp_path))


def test_without_git_on_the_path(tmp_path, monkeypatch):
    # A real PATH without git, not a mock: shutil.which finds nothing there.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SelectionError) as raised:
        migrations_since("main", cwd=str(tmp_path))
    assert str(raised.value) == (
        "git is not installed (or not on PATH), and --migrations-since needs it: install git, or name the "
        "migrations with --migrations APP.NAME,..."
    )


def test_an_option_is_not_a_ref():
    with pytest.raises(SelectionError, match=r"^'--all' is not a git ref; pass a branch, tag or commit"):
        migrations_since("--all")


# --- named migrations ------------------------------------------------------------------------------


@override_settings(MIGRATION_MODULES={"catalog": FLAGGED_MODULE})
def test_named_migrations_in_graph_order_with_prefixes():
    selection = named_migrations("catalog.0009, catalog.0002_remove_gadget_legacy")
    assert selection.keys == [("catalog", "0002_remove_gadget_legacy"), ("catalog", "0009_gadget_sku")]
    assert selection.description == "catalog.0002_remove_gadget_legacy, catalog.0009_gadget_sku"


@override_settings(MIGRATION_MODULES={"catalog": FLAGGED_MODULE})
def test_a_selection_with_gaps_walks_the_migrations_between():
    # 0003-0008 are walked, not analysed: 0009 meets the table as they left it, and 0002's
    # RemoveField is not applied twice (the state before 0002 does not include it).
    report = analyse_selection(named_migrations("catalog.0002,catalog.0009"))
    assert report.migrations == ["catalog.0002_remove_gadget_legacy", "catalog.0009_gadget_sku"]
    assert [(f.migration_name, f.rule_id) for f in report.findings if f.rule_id != "cicd.safety.sql_not_rendered"] == [
        ("0002_remove_gadget_legacy", "cicd.safety.remove_field"),
        ("0009_gadget_sku", "cicd.safety.add_field_not_null"),
    ]
    assert report.not_rendered == {}
    back = analyse_selection(named_migrations("catalog.0002,catalog.0009"), direction="backwards")
    assert [(f.migration_name, f.rule_id) for f in back.findings] == [
        ("0009_gadget_sku", "cicd.safety.reverse_drops_column"),
        ("0009_gadget_sku", "cicd.safety.window_drops_column"),
        ("0002_remove_gadget_legacy", "cicd.safety.window_not_null_column"),
    ]


@override_settings(MIGRATION_MODULES={"catalog": FLAGGED_MODULE})
def test_unknown_and_ambiguous_names_are_all_named():
    with pytest.raises(SelectionError) as raised:
        named_migrations("catalog.0099,nosuchapp.0001,catalog.00")
    assert str(raised.value) == (
        "unknown migrations catalog.0099, nosuchapp.0001; catalog.00 matches several migrations: "
        "see `manage.py showmigrations` for the names."
    )


def test_malformed_names():
    with pytest.raises(SelectionError) as raised:
        named_migrations("catalog,.0001")
    assert str(raised.value) == (
        "'catalog', '.0001' are not APP.NAME; write the app label, a dot and the migration name (or its number), "
        "e.g. catalog.0012."
    )
    with pytest.raises(SelectionError, match=r"^no migration named: pass APP.NAME"):
        named_migrations(" , ")


# --- predeploy -------------------------------------------------------------------------------------


@override_settings(MIGRATION_MODULES={"catalog": FLAGGED_MODULE})
def test_predeploy_analyses_named_migrations_instead_of_the_pending_plan():
    # The test database is fully migrated (nothing pending), yet the named migration is analysed.
    stdout, _stderr, code = run_command(
        "predeploy",
        "--only",
        "cicd.migrations.safety",
        "--only",
        "cicd.migrations.reversible",
        "--database",
        "default",
        "--migrations",
        "catalog.0015",
        "--format",
        "json",
    )
    assert code == 1
    checks = {c["id"]: c for c in json.loads(stdout)["checks"]}
    assert checks["cicd.migrations.safety"]["findings"] == []
    [irreversible] = checks["cicd.migrations.reversible"]["findings"]
    assert irreversible["code"] == "cicd.safety.irreversible"
    assert irreversible["extra"]["migration"] == "catalog.0015_fill_gadgets"


def test_predeploy_reports_an_empty_selection_as_information(repo, monkeypatch):
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "rename")
    monkeypatch.chdir(repo)
    stdout, _stderr, code = run_command(
        "predeploy", "--only", "cicd.migrations.safety", "--migrations-since", "HEAD", "--format", "json"
    )
    assert code == 0
    [check] = json.loads(stdout)["checks"]
    [note] = check["findings"]
    assert note["severity"] == "info" and not note["blocking"]
    assert note["message"] == (
        "no migration selected (migration files added since HEAD): no migration file was added since HEAD "
        "(git diff --diff-filter=A HEAD, untracked files)."
    )


def test_predeploy_since_a_ref_finds_the_new_files(repo, monkeypatch):
    monkeypatch.chdir(repo)
    stdout, _stderr, code = run_command(
        "predeploy", "--only", "cicd.migrations.safety", "--database", "default", "--migrations-since", "base",
        "--format", "json",
    )  # fmt: skip
    assert code == 1
    [check] = json.loads(stdout)["checks"]
    assert {(f["code"], f["extra"]["migration"]) for f in check["findings"]} == {
        ("cicd.safety.delete_model", "catalog.0003_delete_legacy"),
        ("cicd.safety.rename_field", "catalog.0004_rename_gadget_name_label"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--migrations", "catalog.9999"],
            "--migrations: unknown migration catalog.9999: see `manage.py showmigrations` for the names.",
        ),
        (
            ["--migrations-since", "no-such-ref-anywhere"],
            "--migrations-since: unknown git ref 'no-such-ref-anywhere': fetch it first",
        ),
    ],
)
def test_predeploy_bad_selection_could_not_run(args, message):
    _stdout, stderr, code = run_command("predeploy", "--only", "cicd.migrations.safety", *args)
    assert code == 2
    assert f"CommandError: {message}" in stderr


def test_predeploy_selection_options_exclude_each_other():
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "predeploy", "--migrations", "a.b", "--migrations-since", "main"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=False,
    )
    assert result.returncode == 2
    assert "argument --migrations-since: not allowed with argument --migrations" in result.stderr


def test_selection_keys_follow_the_graph():
    loader = planning.load_graph()
    leaf = sorted(loader.graph.leaf_nodes())[0]
    assert named_migrations([f"{leaf[0]}.{leaf[1]}"], loader=loader).keys == [leaf]
