"""Every ``manage.py COMMAND OPTIONS`` that cicd_init writes parses with the real command's parser.

The generated Dockerfile, entrypoint, compose file, pipelines and deploy files call our commands
(and Django's) as shell lines, JSON arrays (Kubernetes, compose) and quoted strings (fly.toml,
``flyctl ssh console --command "..."``). A renamed or removed option would only show in a user's
failed deploy; here it fails the test: each call is extracted from the rendered files and given to
``create_parser(...).parse_args()`` of the command it names.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, get_commands, load_command_class

from django_cicd.scaffold import TARGETS, VENDORS, detect_project, render_files
from tests.utils import ROOT

#: What the generated files must call, at least: the extraction below finds these or it is broken.
EXPECTED_COMMANDS = {"collectstatic", "migrate", "predeploy", "safe_migrate", "rollback_release"}


@dataclass(frozen=True)
class Call:
    path: str
    line: int
    command: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: manage.py {shlex.join((self.command, *self.args))}"


#: Where a simple shell command ends: a list operator, a pipe, a subshell's end, a redirection, a comment.
_SHELL_END = re.compile(r"&&|\|\||[;|)]|\s\d?[<>]|\s#")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with shell continuations (a trailing backslash) joined, numbered by their first line."""
    joined: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append((start, pending + line))
        pending = ""
    if pending:
        joined.append((start, pending))
    return joined


def _from_json_array(line: str, at: int) -> list[str] | None:
    """``["python", "manage.py", "safe_migrate", ...]``: the items after manage.py, if ``at`` is in one."""
    opening, closing = line.rfind("[", 0, at), line.find("]", at)
    if opening == -1 or closing == -1:
        return None
    try:
        items = json.loads(line[opening : closing + 1])
    except ValueError:
        return None
    if not isinstance(items, list) or "manage.py" not in items:
        return None
    return [str(item) for item in items[items.index("manage.py") + 1 :]]


def _open_quote(prefix: str) -> str | None:
    """The innermost quote (", ' or a backtick) still open at the end of ``prefix``, if any:
    in ``echo "run 'python manage.py`` it is the single quote."""
    stack: list[str] = []
    for char in prefix:
        if stack and char == stack[-1]:
            stack.pop()
        elif char in "\"'`":
            stack.append(char)
    return stack[-1] if stack else None


def _from_shell(line: str, at: int) -> list[str]:
    """The words after manage.py up to the end of the simple command (or of the quoted string it is in:
    fly.toml's ``release_command = "..."``, ``--command "..."``, a command quoted in a comment)."""
    rest = line[at + len("manage.py") :]
    quote = _open_quote(line[:at])
    if quote is not None:
        rest = rest.split(quote, 1)[0]
    match = _SHELL_END.search(rest)
    if match:
        rest = rest[: match.start()]
    return shlex.split(rest)


def manage_py_calls(path: str, text: str) -> list[Call]:
    calls = []
    for number, line in _logical_lines(text):
        for match in re.finditer(r"manage\.py", line):
            at = match.start()
            words = _from_json_array(line, at)
            if words is None:
                words = _from_shell(line, at)
            if not words or words[0].startswith("-"):
                continue  # `manage.py` named in prose, not called
            calls.append(Call(path, number, words[0], tuple(words[1:])))
    return calls


def parse_error(call: Call) -> str | None:
    """None when the real command accepts the call's options, else why not."""
    app = get_commands().get(call.command)
    if app is None:
        return f"{call}: there is no command {call.command!r}"
    parser = load_command_class(app, call.command).create_parser("manage.py", call.command)
    try:
        parser.parse_args(list(call.args))
    except CommandError as exc:
        return f"{call}: {exc}"
    return None


@pytest.fixture
def project_dir(tmp_path):
    """A copy of testproject with its manage.py, as a user's repository holds it."""
    shutil.copytree(ROOT / "testproject", tmp_path / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    return tmp_path


def generated_calls(project_dir, **detect) -> list[Call]:
    project = detect_project(project_dir, settings_module="testproject.settings", **detect)
    return [call for f in render_files(project) for call in manage_py_calls(f.path, f.content)]


TARGET_NAMES = sorted({target.name for target in TARGETS.values()})


@pytest.mark.parametrize(("target", "vendor"), list(itertools.product(TARGET_NAMES, VENDORS)))
def test_every_generated_call_parses(project_dir, target, vendor):
    calls = generated_calls(project_dir, targets=[target], vendor=vendor)
    assert {call.command for call in calls} >= {"collectstatic", "predeploy", "safe_migrate", "rollback_release"}
    problems = [parse_error(call) for call in calls]
    assert [problem for problem in problems if problem] == []


def test_every_command_the_files_need_is_covered(project_dir):
    """All targets and both servers together call at least EXPECTED_COMMANDS."""
    calls = [
        call
        for target, server in itertools.product(TARGET_NAMES, ("gunicorn", "uvicorn"))
        for call in generated_calls(project_dir, targets=[target], server=server, vendor="postgresql")
    ]
    commands = {call.command for call in calls}
    assert commands >= EXPECTED_COMMANDS
    # The forms the files use are all found: a shell line, a JSON array and a quoted string.
    texts = {str(call) for call in calls}
    for stage in ("pre", "post"):
        job = f"deploy/kubernetes/migrate-{stage}-job.yaml"
        assert any(t.startswith(job) and f"safe_migrate --stage {stage} --release" in t for t in texts)
    assert any(t.startswith("fly.toml") and t.endswith("manage.py safe_migrate --stage pre") for t in texts)
    # `flyctl ssh console --command "python /app/manage.py ..."` and `heroku run ... -- python manage.py ...`
    assert any(t.startswith(".gitlab-ci.yml") and t.endswith("manage.py safe_migrate --stage post") for t in texts)
    assert any(t.startswith(".gitlab-ci.yml") and "--format junit --output reports/predeploy.xml" in t for t in texts)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('python manage.py safe_migrate --release "$RELEASE" --image "$IMAGE"', None),
        ('python manage.py safe_migrate --relase "$RELEASE"', "unrecognized arguments: --relase"),
        ("python manage.py predeploy --format yaml || true", "invalid choice: 'yaml'"),
        ('command: ["python", "manage.py", "safe_migrate", "--rehearsal"]', "unrecognized arguments: --rehearsal"),
        ('release_command = "python manage.py nope --x"', "there is no command 'nope'"),
    ],
)
def test_the_check_catches_a_wrong_option(line, expected):
    """Proof the check can fail: a misspelt option, a bad choice, an unknown command."""
    (call,) = manage_py_calls("example", line)
    problem = parse_error(call)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_extraction_stops_where_the_shell_command_ends():
    text = (
        "run: python manage.py migrate --noinput && python manage.py predeploy --format github\n"
        'docker run --rm \\\n  -e SECRET_KEY \\\n  "$IMAGE" \\\n  python manage.py safe_migrate --rehearse\n'
        "# the job runs `python manage.py safe_migrate` once\n"
        "if ! python manage.py migrate --check >/dev/null; then\n"
        "echo \"unapplied: run 'python manage.py safe_migrate' first\" >&2\n"
        'flyctl ssh console --command "python manage.py rollback_release --noinput"\n'
    )
    assert [(c.line, c.command, c.args) for c in manage_py_calls("x", text)] == [
        (1, "migrate", ("--noinput",)),
        (1, "predeploy", ("--format", "github")),
        (2, "safe_migrate", ("--rehearse",)),
        (6, "safe_migrate", ()),
        (7, "migrate", ("--check",)),
        (8, "safe_migrate", ()),
        (9, "rollback_release", ("--noinput",)),
    ]
