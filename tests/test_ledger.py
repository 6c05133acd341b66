"""django_cicd.ledger: release names, images, and the rows of the ledger."""

from __future__ import annotations

import pytest

from django_cicd import ledger, release
from django_cicd.models import Release

pytestmark = pytest.mark.django_db(databases="__all__")

CI_VARIABLES = release.RELEASE_VARIABLES


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_explicit_release_wins(clean_env):
    clean_env.setenv("GITHUB_SHA", "abc")
    assert ledger.detect_release_name(" v1.2 ") == "v1.2"


@pytest.mark.parametrize("variable", CI_VARIABLES)
def test_each_ci_variable_names_the_release_as_sentry_does(clean_env, variable):
    clean_env.setenv(variable, f"from-{variable}")
    assert ledger.detect_release_name(None) == f"from-{variable}"
    assert release.detect_release(None)[0] == f"from-{variable}"  # one name for the ledger and Sentry


def test_sentry_release_comes_before_the_commit_sha(clean_env):
    clean_env.setenv("GITHUB_SHA", "sha")
    clean_env.setenv("SENTRY_RELEASE", "shop@1.0")
    assert ledger.detect_release_name(None) == "shop@1.0"


def test_revision_file(clean_env, tmp_path):
    (tmp_path / "REVISION").write_text("0123abc\n")
    assert ledger.detect_release_name(None) == "0123abc"


def test_fallback_is_unnamed(clean_env):
    assert ledger.detect_release_name("") == "unnamed"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("registry.example.com/shop@sha256:" + "a" * 64, ("registry.example.com/shop", "sha256:" + "a" * 64)),
        ("registry.example.com:5000/shop:1.2", ("registry.example.com:5000/shop:1.2", "")),
        ("", ("", "")),
        (None, ("", "")),
    ],
)
def test_parse_image(value, expected):
    assert ledger.parse_image(value) == expected


def _deploy(name, status, database="default"):
    row = ledger.start(
        name=name, kind=Release.Kind.DEPLOY, database=database, state_before={"catalog": "0004"}, plan=[]
    )
    return ledger.finish(row, status=status, state_after={"catalog": "0005"})


def test_start_and_finish_record_who_and_when():
    row = ledger.start(
        name="v1",
        kind=Release.Kind.DEPLOY,
        database="default",
        state_before={"catalog": None},
        plan=[{"app": "catalog", "name": "0001_initial"}],
        image=("shop", "sha256:1"),
        environment="staging",
    )
    assert row.pk and row.status == Release.Status.MIGRATING and row.host and row.pid and row.user
    ledger.finish(row, status=Release.Status.SUCCEEDED, state_after={"catalog": "0001_initial"})
    row.refresh_from_db()
    assert row.status == "succeeded" and row.finished_at is not None
    assert row.state_after == {"catalog": "0001_initial"} and row.image == "shop@sha256:1"


def test_rows_live_in_the_database_they_describe():
    _deploy("v1", "succeeded", database="other")
    assert ledger.current_release("default") is None
    assert ledger.current_release("other").name == "v1"


def test_previous_and_current():
    v1 = _deploy("v1", "succeeded")
    _deploy("v2-broken", "failed")
    v3 = _deploy("v3", "succeeded")
    assert ledger.current_release("default") == v3
    assert ledger.previous_succeeded("default", before=v3) == v1
    assert ledger.previous_succeeded("default") == v3
    assert ledger.previous_succeeded("default", before=v1) is None


def test_unfinished_rows_are_listed():
    row = ledger.start(name="v9", kind=Release.Kind.DEPLOY, database="default", state_before={}, plan=[])
    assert ledger.unfinished("default") == [row]


def test_a_run_that_left_a_migration_half_applied_is_listed_until_a_later_run_takes_it_over():
    """A run that lost its lock inside a half-applicable migration finishes its row as failed but marks it
    needs_recovery: the next run (holding the lock) must find it; once taken over it is not listed."""
    left = ledger.start(name="left", kind=Release.Kind.DEPLOY, database="default", state_before={}, plan=[])
    ledger.finish(left, status=Release.Status.FAILED, details={"needs_recovery": True, "step": {"app": "catalog"}})
    done = ledger.start(name="done", kind=Release.Kind.DEPLOY, database="default", state_before={}, plan=[])
    ledger.finish(done, status=Release.Status.FAILED, details={"needs_recovery": False})
    _deploy("plain-failure", Release.Status.FAILED)
    assert ledger.unfinished("default") == [left]
