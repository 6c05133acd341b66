"""django_cicd.release: the one release name of a deploy, shared by the ledger and Sentry."""

from __future__ import annotations

import pytest

from django_cicd import release, sentry

#: What the ledger (6) and Sentry (16) read before they shared one function.
LEDGER_VARIABLES_BEFORE = {"SENTRY_RELEASE", "GITHUB_SHA", "CI_COMMIT_SHA", "SOURCE_VERSION", "HEROKU_SLUG_COMMIT"}
LEDGER_VARIABLES_BEFORE |= {"K_REVISION"}
SENTRY_VARIABLES_BEFORE = LEDGER_VARIABLES_BEFORE | {
    "HEROKU_BUILD_COMMIT",
    "CIRCLE_SHA1",
    "BITBUCKET_COMMIT",
    "BUILDKITE_COMMIT",
    "DRONE_COMMIT_SHA",
    "CODEBUILD_RESOLVED_SOURCE_VERSION",
    "RENDER_GIT_COMMIT",
    "RAILWAY_GIT_COMMIT_SHA",
    "VERCEL_GIT_COMMIT_SHA",
    "GIT_COMMIT",
}


@pytest.fixture
def clean_environ(monkeypatch, tmp_path, settings):
    for name in (*release.RELEASE_VARIABLES, release.REVISION_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings.BASE_DIR = tmp_path / "nowhere"
    return monkeypatch


def test_every_variable_either_side_read_is_read():
    assert set(release.RELEASE_VARIABLES) == LEDGER_VARIABLES_BEFORE | SENTRY_VARIABLES_BEFORE
    assert len(release.RELEASE_VARIABLES) == len(set(release.RELEASE_VARIABLES))
    assert release.RELEASE_VARIABLES[0] == "SENTRY_RELEASE"


@pytest.mark.parametrize("variable", release.RELEASE_VARIABLES)
def test_each_variable_names_the_release(clean_environ, variable):
    clean_environ.setenv(variable, " abc123 ")
    assert release.detect_release() == ("abc123", variable)


def test_the_explicit_name_wins(clean_environ):
    clean_environ.setenv("SENTRY_RELEASE", "from-sentry")
    assert release.detect_release(" v1.2 ") == ("v1.2", "argument")
    # An empty --release means "not given".
    assert release.detect_release("  ") == ("from-sentry", "SENTRY_RELEASE")


def test_sentry_release_comes_first_then_the_ci_commit(clean_environ):
    clean_environ.setenv("K_REVISION", "cloudrun-7")
    clean_environ.setenv("CI_COMMIT_SHA", "gitlab")
    clean_environ.setenv("GITHUB_SHA", "github")
    assert release.detect_release() == ("github", "GITHUB_SHA")
    clean_environ.setenv("SENTRY_RELEASE", "shop@1.0")
    assert release.detect_release() == ("shop@1.0", "SENTRY_RELEASE")


def test_a_branch_name_falls_through_to_the_commit(clean_environ):
    # AWS CodeBuild: SOURCE_VERSION may be a ref; the resolved commit comes later in the list.
    clean_environ.setenv("SOURCE_VERSION", "refs/heads/main")
    clean_environ.setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "0f1e2d3c")
    assert release.detect_release() == ("0f1e2d3c", "CODEBUILD_RESOLVED_SOURCE_VERSION")


def test_revision_files_in_order(clean_environ, tmp_path):
    base = tmp_path / "project" / "app"
    base.mkdir(parents=True)
    explicit = tmp_path / "baked"
    files = [
        (explicit, "explicitFile"),
        (base / "REVISION", "fromBase"),
        (base.parent / "REVISION", "fromParent"),
        (tmp_path / "REVISION", "fromCwd"),
    ]
    clean_environ.setenv("CICD_REVISION_FILE", str(explicit))
    for path, value in files:
        path.write_text(f"\n{value}\nsecond line\n", encoding="utf-8")
    for path, value in files:
        assert release.detect_release(base_dir=base) == (value, str(path))
        path.unlink()
    assert release.detect_release(base_dir=base) == (None, "")


def test_base_dir_defaults_to_the_settings_base_dir(clean_environ, tmp_path, settings):
    settings.BASE_DIR = tmp_path / "app"
    settings.BASE_DIR.mkdir()
    (settings.BASE_DIR / "REVISION").write_text("fromSettings\n", encoding="utf-8")
    assert release.detect_release() == ("fromSettings", str(settings.BASE_DIR / "REVISION"))


def test_a_variable_comes_before_any_file(clean_environ, tmp_path):
    (tmp_path / "REVISION").write_text("fromFile\n", encoding="utf-8")
    clean_environ.setenv("GIT_COMMIT", "jenkins")
    assert release.detect_release() == ("jenkins", "GIT_COMMIT")


def test_an_unreadable_revision_file_is_skipped(clean_environ, tmp_path):
    (tmp_path / "REVISION").write_bytes(b"\xff\xfe not utf-8")
    assert release.detect_release() == (None, "")


def test_nothing_names_the_release(clean_environ):
    assert release.detect_release() == (None, "")


def test_an_environ_mapping_replaces_os_environ(clean_environ):
    clean_environ.setenv("GITHUB_SHA", "from-os")
    assert release.detect_release(environ={"CIRCLE_SHA1": "from-mapping"}) == ("from-mapping", "CIRCLE_SHA1")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("v1\n", "v1"),
        ("\x1b[31mv1\x1b[0m", "v1"),  # colour
        ("\x1b[2K\x1b[1Av1", "v1"),  # erase the line, cursor up: would overwrite the row above
        ("\x1b]0;pwned\x07v1", "v1"),  # a terminal title
        ("v\x00\x7f\x9b1", "v1"),  # NUL, DEL, the one-byte CSI
        ("v\u202e1", "v1"),  # right-to-left override
        ("v1\r\n2", "v1  2"),  # a line break becomes a space: never a row of its own
        ("x" * 500, "x" * 200),
        ("\x1b[0m", None),
        ("", None),
        (None, None),
    ],
)
def test_clean_release_name(raw, clean):
    assert release.clean_release_name(raw) == clean


def test_control_characters_never_reach_a_detected_name(clean_environ):
    clean_environ.setenv("SENTRY_RELEASE", "\x1b[31mv7\x1b[0m")
    assert release.detect_release() == ("v7", "SENTRY_RELEASE")


def test_a_name_with_a_line_break_inside_is_not_used(clean_environ):
    clean_environ.setenv("SENTRY_RELEASE", "v1\n9  forged  deploy  succeeded")
    clean_environ.setenv("GITHUB_SHA", "feedbeef")
    assert release.detect_release() == ("feedbeef", "GITHUB_SHA")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "v1 hotfix",
            "the release name 'v1 hotfix' contains whitespace; give a name without spaces, slashes or control "
            "characters (at most 200 characters), e.g. the commit sha",
        ),
        (
            "feature/login",
            "the release name 'feature/login' contains a slash or a backslash; give a name without spaces, "
            "slashes or control characters (at most 200 characters), e.g. the commit sha",
        ),
        (
            "..",
            "the release name '..' is '.' or '..'; give a name without spaces, slashes or control characters "
            "(at most 200 characters), e.g. the commit sha",
        ),
        (
            "\x1b[0m",
            "the release name '' is empty once control characters are removed; give a name without spaces, "
            "slashes or control characters (at most 200 characters), e.g. the commit sha",
        ),
    ],
)
def test_an_explicit_name_that_cannot_be_a_release_is_refused(clean_environ, given, message):
    with pytest.raises(release.InvalidReleaseName) as caught:
        release.detect_release(given)
    assert str(caught.value) == message


def test_sentry_gets_the_name_the_ledger_gets(clean_environ, tmp_path):
    # One deploy, one name: Sentry's setup asks the same function the ledger asks.
    environ = {"SOURCE_VERSION": "pr/12", "CODEBUILD_RESOLVED_SOURCE_VERSION": "c0ffee"}
    setup = sentry.resolve_setup(environ=environ)
    assert (setup.release, setup.release_source) == release.detect_release(environ=environ)
    (tmp_path / "REVISION").write_text("baked\n", encoding="utf-8")
    setup = sentry.resolve_setup(environ={})
    assert (setup.release, setup.release_source) == ("baked", str(tmp_path / "REVISION"))
    assert sentry.resolve_setup(environ={}, release="given").release == "given"
