"""cicd_init never writes through a symbolic link or outside the project directory.

Every target and every directory on the way to it is checked before the first file is written: a
refusal is exit 2, one sentence naming the path and the fix, and nothing written, with or without
--force and --dry-run. A symbolic link is refused even when it points inside the project (decided:
a generated file lives at its own path, and one rule is easier to trust than a rule with a
resolution step); the project directory itself may be reached through a link (--directory).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.utils import ROOT, run_command

LINK_FIX = (
    "cicd_init never writes through a symbolic link or outside the project directory, so remove the link "
    "(or put a regular file or directory in its place) and run it again."
)


@pytest.fixture
def project_dir(tmp_path):
    """A copy of testproject in tmp_path/project, beside tmp_path/outside (where nothing may appear)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "testproject", project / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", project / "manage.py")
    (tmp_path / "outside").mkdir()
    return project


def snapshot(*directories: Path) -> dict[str, bytes | str]:
    """Every entry under the directories: file contents, link targets, directories (without following links)."""
    seen: dict[str, bytes | str] = {}
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            if path.is_symlink():
                seen[str(path)] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                seen[str(path)] = "dir"
            else:
                seen[str(path)] = path.read_bytes()
    return seen


def cicd_init(project: Path, **options):
    return run_command("cicd_init", directory=str(project), settings_module="testproject.settings", **options)


@pytest.mark.parametrize("options", [{}, {"force": True}, {"dry_run": True}])
def test_a_dangling_dockerfile_link_is_refused_and_nothing_is_written(project_dir, options):
    outside = project_dir.parent / "outside" / "Dockerfile"
    (project_dir / "Dockerfile").symlink_to(outside)
    before = snapshot(project_dir.parent)
    stdout, stderr, code = cicd_init(project_dir, **options)
    assert (code, stdout) == (2, "")
    assert stderr == f"CommandError: cicd_init wrote nothing: Dockerfile is a symbolic link to {outside}; {LINK_FIX}\n"
    assert snapshot(project_dir.parent) == before
    assert not outside.exists()


def test_force_does_not_overwrite_a_file_outside_through_a_link(project_dir):
    outside = project_dir.parent / "outside" / "Dockerfile"
    outside.write_text("FROM someone-elses-image\n")
    (project_dir / "Dockerfile").symlink_to(outside)
    before = snapshot(project_dir.parent)
    _, stderr, code = cicd_init(project_dir, force=True)
    assert code == 2
    assert stderr == f"CommandError: cicd_init wrote nothing: Dockerfile is a symbolic link to {outside}; {LINK_FIX}\n"
    assert snapshot(project_dir.parent) == before
    assert outside.read_text() == "FROM someone-elses-image\n"


@pytest.mark.parametrize("existing", [False, True], ids=["dangling", "existing"])
def test_a_linked_workflows_directory_is_refused_before_any_file_is_written(project_dir, existing):
    """The fault seen: Dockerfile and four more were written, then exit 2 at .github/workflows."""
    outside = project_dir.parent / "outside" / "workflows"
    if existing:
        outside.mkdir()
    (project_dir / ".github").mkdir()
    (project_dir / ".github" / "workflows").symlink_to(outside)
    before = snapshot(project_dir.parent)
    _, stderr, code = cicd_init(project_dir)
    assert code == 2
    assert stderr == (
        f"CommandError: cicd_init wrote nothing: .github/workflows is a symbolic link to {outside}; {LINK_FIX}\n"
    )
    assert snapshot(project_dir.parent) == before
    assert not (project_dir / "Dockerfile").exists()


def test_a_linked_directory_inside_the_project_is_refused_too(project_dir):
    """docker -> deploy/docker would keep the write inside the project; it is refused all the same
    (one rule: a generated file is a regular file at its own path)."""
    (project_dir / "deploy" / "docker").mkdir(parents=True)
    (project_dir / "docker").symlink_to(Path("deploy") / "docker")
    before = snapshot(project_dir)
    _, stderr, code = cicd_init(project_dir)
    assert code == 2
    assert stderr == f"CommandError: cicd_init wrote nothing: docker is a symbolic link to deploy/docker; {LINK_FIX}\n"
    assert snapshot(project_dir) == before


def test_several_problems_are_named_in_one_sentence(project_dir):
    (project_dir / "Dockerfile").symlink_to("/nonexistent/Dockerfile")
    (project_dir / ".gitlab-ci.yml").symlink_to("Dockerfile")
    _, stderr, code = cicd_init(project_dir, force=True)
    assert code == 2
    assert stderr == (
        "CommandError: cicd_init wrote nothing: Dockerfile is a symbolic link to /nonexistent/Dockerfile, "
        f".gitlab-ci.yml is a symbolic link to Dockerfile; {LINK_FIX}\n"
    )


def test_a_directory_where_a_file_goes_is_refused_before_writing(project_dir):
    (project_dir / "docker-compose.yml").mkdir()
    before = snapshot(project_dir)
    _, stderr, code = cicd_init(project_dir, force=True)
    assert code == 2
    assert stderr == (
        "CommandError: cicd_init wrote nothing: docker-compose.yml is a directory, not a regular file; "
        "move it out of the way and run it again.\n"
    )
    assert snapshot(project_dir) == before


def test_a_file_where_a_directory_goes_is_refused_before_writing(project_dir):
    (project_dir / "docker").write_text("notes\n")
    before = snapshot(project_dir)
    _, stderr, code = cicd_init(project_dir)
    assert code == 2
    assert stderr == (
        "CommandError: cicd_init wrote nothing: docker is a file where a directory is needed; "
        "move it out of the way and run it again.\n"
    )
    assert snapshot(project_dir) == before


def test_force_replaces_a_hard_linked_file_instead_of_writing_into_the_shared_inode(project_dir):
    """A hard link shares its content with a name outside the project: --force gives the project's
    name a new file and leaves the other name's content as it was."""
    outside = project_dir.parent / "outside" / "Dockerfile"
    outside.write_text("FROM someone-elses-image\n")
    os.link(outside, project_dir / "Dockerfile")
    _, _, code = cicd_init(project_dir, force=True)
    assert code == 0
    assert outside.read_text() == "FROM someone-elses-image\n"
    assert (project_dir / "Dockerfile").read_text().startswith("# Generated by django-cicd")


def test_the_project_directory_itself_may_be_a_link(project_dir, tmp_path):
    """--directory may name the project through a link (a checkout under a linked home, /tmp on
    macOS); the links checked are those below it."""
    link = tmp_path / "project-link"
    link.symlink_to(project_dir)
    _, stderr, code = cicd_init(link)
    assert code == 0, stderr
    assert (project_dir / "Dockerfile").is_file() and not (project_dir / "Dockerfile").is_symlink()
    assert os.stat(project_dir / "docker" / "entrypoint.sh").st_mode & 0o111
