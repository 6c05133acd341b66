"""The name of the release being deployed: one function, so the ledger and Sentry never disagree.

:func:`detect_release` is the only place a release name is found. In order:

1. the name given explicitly (``--release``, ``init_sentry(release=...)``);
2. the first of :data:`RELEASE_VARIABLES` that holds a usable name: ``SENTRY_RELEASE`` (set by a
   person for exactly this), then the commit variables of CI services and hosting platforms;
3. the first line of a ``REVISION`` file baked into the image (:func:`revision_file_candidates`).

Every name passes through :func:`clean_release_name` (control characters and terminal escape
sequences removed, at most :data:`MAX_LENGTH` characters), so a name can never forge a line in a
listing, and must be one Sentry accepts (no whitespace, slash or backslash, not ``.`` or ``..``).
A detected value that is not usable is skipped (AWS CodeBuild's ``SOURCE_VERSION`` may be a branch
such as ``refs/heads/main``; its resolved commit comes later in the list); an explicit one raises
:class:`InvalidReleaseName`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "MAX_LENGTH",
    "RELEASE_VARIABLES",
    "REVISION_FILE_NAME",
    "REVISION_FILE_VARIABLE",
    "InvalidReleaseName",
    "clean_release_name",
    "detect_release",
    "printable",
    "release_name_problem",
    "revision_file_candidates",
]

#: Where a release name is looked for, in this order, after the explicit name and before the REVISION file.
RELEASE_VARIABLES = (
    "SENTRY_RELEASE",  # set by hand for exactly this; also what sentry-sdk itself reads
    "GITHUB_SHA",  # GitHub Actions
    "CI_COMMIT_SHA",  # GitLab CI
    "SOURCE_VERSION",  # Heroku builds; AWS CodeBuild (there it may be a branch: skipped, see below)
    "HEROKU_SLUG_COMMIT",  # Heroku dyno metadata
    "HEROKU_BUILD_COMMIT",
    "K_REVISION",  # Cloud Run, Knative
    "CIRCLE_SHA1",  # CircleCI
    "BITBUCKET_COMMIT",  # Bitbucket Pipelines
    "BUILDKITE_COMMIT",  # Buildkite
    "DRONE_COMMIT_SHA",  # Drone, Woodpecker
    "CODEBUILD_RESOLVED_SOURCE_VERSION",  # AWS CodeBuild: the commit SOURCE_VERSION resolved to
    "RENDER_GIT_COMMIT",  # Render
    "RAILWAY_GIT_COMMIT_SHA",  # Railway
    "VERCEL_GIT_COMMIT_SHA",  # Vercel
    "GIT_COMMIT",  # Jenkins
)
REVISION_FILE_NAME = "REVISION"
#: A variable naming the REVISION file explicitly (looked at first).
REVISION_FILE_VARIABLE = "CICD_REVISION_FILE"
#: Sentry's limit, and the ledger's column width.
MAX_LENGTH = 200
#: The source :func:`detect_release` returns when nothing names the release.
NOT_FOUND = ""
ARGUMENT = "argument"

# Terminal escape sequences, removed whole so that no "[31m" is left behind: CSI (colours, cursor
# moves, erase), OSC (window titles, hyperlinks; ended by BEL or ESC \) and the two-byte escapes.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)")
# A line or tab break becomes a space (words stay apart, but nothing starts a line of its own);
# every other control character, and the bidirectional overrides that reorder what is shown, goes.
_BREAKS = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_PRINTABLE = {
    **dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)]),
    **dict.fromkeys([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]),
    **{ord(c): " " for c in _BREAKS},
}
_NOT_IN_A_RELEASE = re.compile(r"[\s/\\]")
_RULE = "give a name without spaces, slashes or control characters (at most 200 characters), e.g. the commit sha"


class InvalidReleaseName(ValueError):
    """An explicitly given release name that Sentry and the ledger cannot both use."""


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters; line breaks and tabs become
    spaces. For anything printed that came from outside (ledger rows, release names, hosts, errors)."""
    return _ESCAPES.sub("", text).translate(_PRINTABLE)


def clean_release_name(value: str | None) -> str | None:
    """``value`` made printable on one line, stripped and cut to :data:`MAX_LENGTH`; None when nothing
    is left. It does not judge the name: see :func:`release_name_problem`."""
    if value is None:
        return None
    return printable(value).strip()[:MAX_LENGTH].strip() or None


def release_name_problem(name: str | None) -> str | None:
    """Why ``name`` (already cleaned) cannot be a release name, or None when it can. Sentry refuses
    names with whitespace, a slash or a backslash, and the names ``.`` and ``..``."""
    if not name:
        return "is empty once control characters are removed"
    if name in {".", ".."}:
        return "is '.' or '..'"
    found = _NOT_IN_A_RELEASE.search(name)
    if found:
        return "contains whitespace" if found.group().isspace() else "contains a slash or a backslash"
    return None


def _usable(value: str | None) -> str | None:
    name = clean_release_name(value)
    return name if release_name_problem(name) is None else None


def revision_file_candidates(
    base_dir: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[Path]:
    """Where a baked-in REVISION file is looked for, in order: ``$CICD_REVISION_FILE``; ``REVISION`` in
    ``base_dir`` (default: ``settings.BASE_DIR`` once the settings are loaded) and in its parent (for a
    ``BASE_DIR`` that is the project package); ``REVISION`` in the working directory (an image's
    WORKDIR, where ``manage.py`` runs)."""
    source = os.environ if environ is None else environ
    candidates: list[Path] = []
    explicit = (source.get(REVISION_FILE_VARIABLE) or "").strip()
    if explicit:
        candidates.append(Path(explicit))
    if base_dir is None:
        base_dir = _settings_base_dir()
    if base_dir is not None:
        candidates += [Path(base_dir) / REVISION_FILE_NAME, Path(base_dir).parent / REVISION_FILE_NAME]
    candidates.append(Path.cwd() / REVISION_FILE_NAME)
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def _settings_base_dir() -> str | os.PathLike[str] | None:
    # Inside the settings module (init_sentry runs there) the settings are not configured yet, and
    # reading one would import that very module again: the caller passes base_dir there.
    from django.conf import settings

    if not settings.configured:
        return None
    base_dir = getattr(settings, "BASE_DIR", None)
    return base_dir if isinstance(base_dir, (str, os.PathLike)) else None


def _first_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(4096).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.strip().splitlines()
    return lines[0] if lines else None


def detect_release(
    explicit: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> tuple[str | None, str]:
    """(release name, where it came from): ``"argument"``, a variable name, a REVISION file's path;
    ``(None, "")`` when nothing names the release. See the module docstring for the order.

    Raises :class:`InvalidReleaseName` for an ``explicit`` name that is not usable (one sentence
    naming the problem); an empty or blank ``explicit`` counts as not given.
    """
    if explicit is not None and explicit.strip():
        name = clean_release_name(explicit)
        problem = release_name_problem(name)
        if problem is not None:
            raise InvalidReleaseName(f"the release name {name or ''!r} {problem}; {_RULE}")
        return name, ARGUMENT
    source = os.environ if environ is None else environ
    for variable in RELEASE_VARIABLES:
        name = _usable(source.get(variable))
        if name:
            return name, variable
    for path in revision_file_candidates(base_dir, environ=source):
        name = _usable(_first_line(path))
        if name:
            return name, str(path)
    return None, NOT_FOUND
