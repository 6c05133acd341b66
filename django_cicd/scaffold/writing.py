"""Writing cicd_init's files: never through a symbolic link, never outside the project directory.

Two phases. :func:`plan_writes` looks at every target and every directory on the way to it
(``os.lstat``, links not followed) and refuses the whole run when one of them is a symbolic link
(wherever it points, inside the project too), a file where a directory is needed, or something
other than a regular file where a file goes: nothing has been written at that point. Then each
file is written by walking the directories from the project root with ``O_NOFOLLOW`` (a link that
appears after the plan stops the write instead of being followed), created with ``O_EXCL``, or,
when ``--force`` replaces a file, written beside it and renamed over it, so that a hard link's
other names keep their content.

The project directory itself may be reached through a link; the checks start below it.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django_cicd.scaffold import GeneratedFile

Action = Literal["created", "overwritten", "unchanged", "skipped", "would create", "would overwrite"]

LINK_FIX = (
    "cicd_init never writes through a symbolic link or outside the project directory, so remove the link "
    "(or put a regular file or directory in its place) and run it again"
)
MOVE_FIX = "move it out of the way and run it again"
PATH_FIX = "give paths relative to the project directory, without '..'"

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeTarget(Exception):
    """A target cannot be written safely; nothing was written. The message names the paths and the fix."""


@dataclass(frozen=True)
class Refusal:
    path: str
    problem: str
    fix: str


@dataclass(frozen=True)
class PlannedWrite:
    file: GeneratedFile
    parts: tuple[str, ...]
    #: What happens (created, overwritten, unchanged, skipped); with dry_run, what would.
    action: Action
    #: The permission bits of the file replaced (kept), or None for a new file.
    mode: int | None = None


def plan_writes(files: Sequence[GeneratedFile], root: Path, *, force: bool) -> list[PlannedWrite]:
    """What writing ``files`` under ``root`` does to each; raises :class:`UnsafeTarget` naming every
    path that must not be written through (or over) before anything is written."""
    refusals: dict[str, Refusal] = {}
    planned: list[PlannedWrite] = []
    for generated in files:
        parts = PurePosixPath(generated.path).parts
        if not parts or PurePosixPath(generated.path).is_absolute() or any(p in ("..", ".") for p in parts):
            refusals.setdefault(generated.path, Refusal(generated.path, "not a path inside the project", PATH_FIX))
            continue
        existing: os.stat_result | None = None
        blocked = False
        for depth in range(1, len(parts) + 1):
            relative = "/".join(parts[:depth])
            try:
                found = os.lstat(root.joinpath(*parts[:depth]))
            except FileNotFoundError:
                break  # this one and everything below it will be created
            last = depth == len(parts)
            refusal = _refusal(relative, root.joinpath(*parts[:depth]), found, last)
            if refusal is not None:
                refusals.setdefault(relative, refusal)
                blocked = True
                break
            if last:
                existing = found
        if blocked:
            continue
        if existing is None:
            planned.append(PlannedWrite(generated, parts, "created"))
        elif _same_content(root.joinpath(*parts), generated.content):
            planned.append(PlannedWrite(generated, parts, "unchanged"))
        elif not force:
            planned.append(PlannedWrite(generated, parts, "skipped"))
        else:
            planned.append(PlannedWrite(generated, parts, "overwritten", stat.S_IMODE(existing.st_mode)))
    if refusals:
        found_ = ", ".join(f"{r.path} is {r.problem}" for r in refusals.values())
        fixes = "; ".join(dict.fromkeys(r.fix for r in refusals.values()))
        raise UnsafeTarget(f"cicd_init wrote nothing: {found_}; {fixes}.")
    return planned


def _refusal(relative: str, path: Path, found: os.stat_result, last: bool) -> Refusal | None:
    if stat.S_ISLNK(found.st_mode):
        return Refusal(relative, f"a symbolic link to {os.readlink(path)}", LINK_FIX)
    if not last and not stat.S_ISDIR(found.st_mode):
        return Refusal(relative, "a file where a directory is needed", MOVE_FIX)
    if last and stat.S_ISDIR(found.st_mode):
        return Refusal(relative, "a directory, not a regular file", MOVE_FIX)
    if last and not stat.S_ISREG(found.st_mode):
        return Refusal(relative, "not a regular file", MOVE_FIX)
    return None


def _same_content(path: Path, content: str) -> bool:
    return path.read_text(encoding="utf-8", errors="replace") == content


def write_planned(planned: PlannedWrite, root: Path) -> None:
    """Write one planned file: directories walked without following links, a new file created
    exclusively, a replaced file renamed over (its permission bits kept)."""
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in planned.parts[:-1]:
            try:
                below = os.open(part, _DIRECTORY_FLAGS, dir_fd=directory)
            except FileNotFoundError:
                os.mkdir(part, 0o777, dir_fd=directory)
                below = os.open(part, _DIRECTORY_FLAGS, dir_fd=directory)
            os.close(directory)
            directory = below
        name = planned.parts[-1]
        data = planned.file.content.encode("utf-8")
        if planned.action == "created":
            _write_new(name, directory, data, 0o755 if planned.file.executable else None)
            return
        temporary = f".{name}.cicd_init-{secrets.token_hex(4)}"
        _write_new(temporary, directory, data, 0o755 if planned.file.executable else planned.mode)
        try:
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            os.unlink(temporary, dir_fd=directory)
            raise
    finally:
        os.close(directory)


def _write_new(name: str, directory: int, data: bytes, mode: int | None) -> None:
    descriptor = os.open(name, _CREATE_FLAGS, 0o666, dir_fd=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
    except BaseException:
        os.unlink(name, dir_fd=directory)
        raise
