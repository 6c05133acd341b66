"""The deploy jobs cicd_init writes migrate in two stages around the rollout (expand/contract).

``safe_migrate --stage pre`` applies what is safe while the old code still serves: it must run before
the new image takes traffic. ``safe_migrate --stage post`` applies what had to wait for the new code:
it must run only once the new release answers, after the platform's health check, with the same
release and image. Each test parses the generated YAML (GitHub's steps, GitLab's script lines) for
every target and checks the order of the commands; Heroku and Fly.io run the pre stage in their
release phase, which is part of their rollout command.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading

import pytest
import yaml

from django_cicd.scaffold import detect_project, render_files
from tests.test_cicd_init_commands import manage_py_calls
from tests.utils import ROOT, need

TARGETS = ["swarm", "kubernetes", "fly", "heroku", "cloudrun", "elasticbeanstalk"]
#: The command line of each target's rollout, and of its health check (what it waits for).
ROLLOUT = {
    "swarm": 'docker service update --detach=false --with-registry-auth --image "$IMAGE" "$SERVICE"',
    "kubernetes": 'kubectl set image deployment/testproject testproject="$IMAGE"',
    "fly": 'flyctl deploy --app "$FLY_APP" --image "$IMAGE" --wait-timeout 600',
    "heroku": 'git push "https://heroku:$HEROKU_API_KEY@git.heroku.com/$HEROKU_APP.git" "HEAD:refs/heads/main"',
    "cloudrun": 'gcloud run services update-traffic "$SERVICE" --region "$GCP_REGION" --to-latest',
    "elasticbeanstalk": 'aws elasticbeanstalk update-environment --environment-name "$EB_ENVIRONMENT" '
    '--version-label "$RELEASE"',
}
HEALTH = {
    "swarm": "docker service ps --no-trunc --filter desired-state=running",
    "kubernetes": "kubectl rollout status deployment/testproject --timeout=10m",
    "fly": 'flyctl ssh console --app "$FLY_APP" --command "python /app/docker/healthcheck.py"',
    "heroku": 'timeout 600 heroku ps:wait --app "$HEROKU_APP" --type web',
    "cloudrun": 'gcloud run services describe "$SERVICE" --region "$GCP_REGION" --format json',
    "elasticbeanstalk": "aws elasticbeanstalk describe-environments",
}
#: The line that runs each stage: safe_migrate itself, or (Kubernetes) the apply of its Job's manifest.
STAGE = {
    "pre": {
        "kubernetes": "deploy/kubernetes/migrate-pre-job.yaml | kubectl apply",
        "cloudrun": "deploy/cloudrun/migrate-pre-job.yaml >",
    },
    "post": {
        "kubernetes": "deploy/kubernetes/migrate-post-job.yaml | kubectl apply",
        "cloudrun": "deploy/cloudrun/migrate-post-job.yaml >",
    },
}
#: Where Heroku and Fly.io keep the command of their release phase.
RELEASE_PHASE = {"fly": "fly.toml", "heroku": "heroku.yml", "elasticbeanstalk": ".ebextensions/django-cicd.config"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Every target's files, rendered once for testproject."""
    directory = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "testproject", directory / "testproject", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", directory / "manage.py")
    files = {}
    for target in TARGETS:
        project = detect_project(directory, settings_module="testproject.settings", targets=[target])
        files[target] = {f.path: f.content for f in render_files(project)}
    return files


def command_lines(scripts: list[str]) -> list[str]:
    """The shell lines of the scripts, in order, without comments and blank lines, continuations joined."""
    lines = []
    for script in scripts:
        for line in script.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def github_deploy(files: dict[str, str]) -> tuple[dict, list[dict]]:
    workflow = yaml.safe_load(files[".github/workflows/deploy.yml"])
    return workflow["jobs"], workflow["jobs"]["deploy"]["steps"]


def gitlab_deploy(files: dict[str, str]) -> list[str]:
    return yaml.safe_load(files[".gitlab-ci.yml"])["deploy"]["script"]


def deploy_lines(files: dict[str, str], system: str) -> list[str]:
    if system == "github":
        return command_lines([step.get("run", "") for step in github_deploy(files)[1]])
    return command_lines(gitlab_deploy(files))


def first(lines: list[str], needle: str) -> int:
    found = [i for i, line in enumerate(lines) if needle in line]
    assert found, f"no line has {needle!r}:\n" + "\n".join(lines)
    return found[0]


def stage_calls(lines: list[str], stage: str) -> list[list[str]]:
    """The words after manage.py of every ``safe_migrate --stage STAGE`` in the lines, as the shell
    (or the quoted string they are in) gives them to the command."""
    calls = manage_py_calls("generated", "\n".join(lines))
    return [
        [call.command, *call.args]
        for call in calls
        if call.command == "safe_migrate" and call.args[:2] == ("--stage", stage)
    ]


@pytest.mark.parametrize("system", ["github", "gitlab"])
@pytest.mark.parametrize("target", TARGETS)
def test_pre_before_the_rollout_post_after_the_health_check(generated, target, system):
    files = generated[target]
    lines = deploy_lines(files, system)
    rollout, health = first(lines, ROLLOUT[target]), first(lines, HEALTH[target])
    pre_line = STAGE["pre"].get(target, "safe_migrate --stage pre")
    post_line = STAGE["post"].get(target, "safe_migrate --stage post")
    (post,) = [i for i, line in enumerate(lines) if post_line in line]
    pres = [i for i, line in enumerate(lines) if pre_line in line]
    if target in RELEASE_PHASE:
        # The platform runs the pre stage in the rollout, before the release takes traffic; the
        # pipeline must not run it a second time.
        assert pres == []
        (release_command,) = stage_calls(command_lines([files[RELEASE_PHASE[target]]]), "pre")
        assert release_command == ["safe_migrate", "--stage", "pre"]
        pre = rollout
    else:
        (pre,) = pres
        assert pre < rollout
    assert pre <= rollout < health < post
    # Nothing in the deploy job migrates without a stage any more.
    assert [line for line in lines if re.search(r"safe_migrate(?! --stage)", line)] == []


@pytest.mark.parametrize("system", ["github", "gitlab"])
@pytest.mark.parametrize("target", ["swarm", "kubernetes"])
def test_both_stages_name_the_same_release_and_image(generated, target, system):
    files = generated[target]
    if target == "kubernetes":
        lines = deploy_lines(files, system)
        jobs = [f"deploy/kubernetes/migrate-{stage}-job.yaml" for stage in ("pre", "post")]
        assert first(lines, jobs[0]) < first(lines, ROLLOUT[target]) < first(lines, jobs[1])
        commands = []
        for stage, path in zip(("pre", "post"), jobs, strict=True):
            (container,) = yaml.safe_load(files[path])["spec"]["template"]["spec"]["containers"]
            assert container["command"][:5] == ["python", "manage.py", "safe_migrate", "--stage", stage]
            commands.append(container["command"][5:])
        assert commands[0] == commands[1] == ["--release", "__RELEASE__", "--image", "__IMAGE__"]
    else:
        lines = deploy_lines(files, system)
        (pre,) = stage_calls(lines, "pre")
        (post,) = stage_calls(lines, "post")
        assert pre[3:] == post[3:] == ["--release", "$RELEASE", "--image", "$IMAGE"]


@pytest.mark.parametrize("system", ["github", "gitlab"])
@pytest.mark.parametrize("target", ["fly", "heroku"])
def test_the_post_stage_runs_in_the_new_release_as_its_release_phase_did(generated, target, system):
    """No --release or --image on either side: the post stage runs in a machine (Fly) or a one-off dyno
    (Heroku) of the new release, with its environment and image, so it names the release exactly as
    the release phase did. Without a terminal: CI has none."""
    files = generated[target]
    lines = deploy_lines(files, system)
    (post,) = stage_calls(lines, "post")
    assert post == ["safe_migrate", "--stage", "post"]
    (line,) = [line for line in lines if "safe_migrate --stage post" in line]
    if target == "heroku":
        assert line.startswith('heroku run --exit-code --no-tty --app "$HEROKU_APP" -- ')
    else:
        # `ssh console --command` allocates no terminal and exits with the command's status.
        assert line.startswith('flyctl ssh console --app "$FLY_APP" --command ') and "--pty" not in line


@pytest.mark.parametrize("target", TARGETS)
def test_github_rolls_back_only_once_the_pre_stage_ran(generated, target):
    """The deploy job's output says whether safe_migrate ran: its step (id ``migrate``) is the pre
    stage, or for Heroku and Fly.io the rollout that runs it. The steps after it run only when it
    succeeded, so a post stage implies a pre stage; the rollback job follows a failed deploy only when
    the pre stage ran, whichever later step failed."""
    jobs, steps = github_deploy(generated[target])
    ids = [step.get("id") for step in steps]
    migrate = ids.index("migrate")
    assert ids[migrate:] == (
        ["migrate", "health", "migrate-post"]
        if target in RELEASE_PHASE
        else ["migrate", "rollout", "health", "migrate-post"]
    )
    migrate_lines = command_lines([steps[migrate]["run"]])
    runs_pre = ROLLOUT[target] if target in RELEASE_PHASE else STAGE["pre"].get(target, "safe_migrate --stage pre")
    assert any(runs_pre in line for line in migrate_lines)
    assert all("if" not in step and "continue-on-error" not in step for step in steps[migrate:])
    assert jobs["deploy"]["outputs"] == {"migrated": "${{ steps.migrate.outcome == 'success' }}"}
    assert jobs["rollback"]["needs"] == ["deploy"]
    assert "needs.deploy.outputs.migrated == 'true'" in jobs["rollback"]["if"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_rehearsal_still_rehearses_the_whole_plan(generated, target):
    files = generated[target]
    github = command_lines([s.get("run", "") for s in github_deploy(files)[0]["rehearse"]["steps"]])
    gitlab = command_lines(yaml.safe_load(files[".gitlab-ci.yml"])["rehearse"]["script"])
    for lines in (github, gitlab):
        (line,) = [line for line in lines if "safe_migrate" in line]
        assert line.endswith('python manage.py safe_migrate --rehearse --release "$RELEASE" --image "$IMAGE"')


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self):
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def app_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Answer", (_Answer,), {"paths": []}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_heroku_health(files: dict[str, str], server, tmp_path) -> subprocess.CompletedProcess[str]:
    """The generated Heroku health check step, as written, against a real HTTP server on 127.0.0.1.

    Heroku cannot run here: a stand-in ``heroku`` on PATH answers ``ps:wait`` (every dyno on the new
    release) and ``apps:info --shell`` (the app's web_url: the local server), and a stand-in
    ``sleep`` returns at once so that the 30 attempts take no time. curl, timeout and bash are real.
    """
    _jobs, steps = github_deploy(files)
    (script,) = [step["run"] for step in steps if step.get("id") == "health"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    (bin_dir / "heroku").write_text(
        f'#!/bin/sh\ncase "$1" in\n  ps:wait) exit 0 ;;\n  apps:info) echo "git_url=x"; echo "web_url={url}" ;;\n'
        "  *) exit 3 ;;\nesac\n"
    )
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for name in ("heroku", "sleep"):
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "HEROKU_APP": "shop"}
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(("status", "passes"), [(200, True), (404, True), (503, False)])
def test_the_heroku_health_check_wants_an_answer_below_500(generated, app_server, tmp_path, status, passes):
    """An answer below 500 is the app serving (a 4xx too, as the image's health check counts it); the
    router's 503 while no dyno answers is not, and after its attempts the step fails."""
    need(shutil.which("curl") is not None, "curl is not installed")
    app_server.RequestHandlerClass.status = status
    result = run_heroku_health(generated["heroku"], app_server, tmp_path)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr
    paths = app_server.RequestHandlerClass.paths
    assert set(paths) == {"/"} and len(paths) == (1 if passes else 30)
    if not passes:
        assert f"did not answer (last status: {status})" in result.stderr
