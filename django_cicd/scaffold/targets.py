"""Where the application runs: what each deploy target adds to the pipelines and to the project.

A target gives the shell scripts that the GitHub and GitLab deploy jobs run, in this order (see
:data:`DEPLOY_STEPS`): ``setup`` (credentials for the platform); ``migrate``, the pre-deploy stage
(``safe_migrate --stage pre``: the migrations that are safe while the old code still serves, as a
one-off job with the new image); ``deploy`` (the rollout: switch the service to the new image);
``health`` (the new release answers, by the platform's own account: converged, health checks
passing); ``post``, the post-deploy stage (``safe_migrate --stage post``: what had to wait for the
new code, under the same release). ``rollback`` runs ``rollback_release`` with the *new* image, which
still has the migration files, then the platform's own switch back to the previous image.

Heroku and Fly.io run the pre-deploy stage themselves, in their release phase (``heroku.yml``'s
``release``, ``fly.toml``'s ``release_command``), inside the rollout: their ``migrate`` script is
empty and the rollout step is where the pre-deploy stage runs (:attr:`Target.release_phase`).

The scripts read ``$IMAGE`` (the image of this commit) and ``$RELEASE`` (the commit), and secrets
only from the environment, never from the command line.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_cicd.scaffold import Project

CI_SYSTEMS = ("github", "gitlab", "circleci", "travis", "jenkins")
#: What ``cicd_init`` writes without ``--ci``.
DEFAULT_CI = ("github", "gitlab")
#: How a step hands a changed ``$IMAGE`` to the steps after it, where each step is a new shell
#: (GitLab, Travis CI and Jenkins run the deploy in one shell: nothing to hand over).
_KEEP_IMAGE = {
    "github": 'echo "IMAGE=$IMAGE" >> "$GITHUB_ENV"\n',
    "circleci": 'echo "export IMAGE=\'$IMAGE\'" >> "$BASH_ENV"\n',
}
#: The deploy job's scripts, in the order it runs them.
DEPLOY_STEPS = ("setup", "migrate", "deploy", "health", "post")


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    #: (path written in the project, template) pairs.
    files: tuple[tuple[str, str], ...] = ()
    #: Secrets (beyond the application's own) the deploy jobs need from the platform's store.
    platform_secrets: tuple[str, ...] = ()
    #: Variables (not secret) the deploy jobs read, with the value written into the pipeline.
    variables: dict[str, str] = field(default_factory=dict)
    #: The platform runs ``safe_migrate --stage pre`` itself during the rollout (its release phase).
    release_phase: bool = False

    def script(self, step: str, system: str, project: Project) -> str:
        return _SCRIPTS[self.name](step, system, project)


def _docker_run(project: Project, command: str, *extra: str) -> str:
    flags = " ".join(f"-e {var}" for var in project.app_variables)
    parts = ["docker run --rm", flags, *extra, '"$IMAGE"', command]
    return " \\\n  ".join(part for part in parts if part)


def _safe_migrate(stage: str) -> str:
    return f'python manage.py safe_migrate --stage {stage} --release "$RELEASE" --image "$IMAGE"'


#: After ``docker service update``: did the rollout converge on this image, and does every task run?
#: Swarm rolls a failed update back by itself (the stack's ``failure_action: rollback``), after which
#: the service runs the previous image again; and a task of an image with a HEALTHCHECK stays
#: "Starting" until its check passes, so "Running" means the container's own health check answered.
_SWARM_HEALTH = """\
# The new release answers: the rollout converged on this image (Swarm rolls a failed update back by
# itself), and every task runs it, past its container health check (a task is "Starting" until then).
state="$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$SERVICE")"
running="$(docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$SERVICE")"
case "$running" in
  *"${IMAGE#*@}") ;;
  *) echo "$SERVICE runs $running, not $IMAGE (update: ${state:-none})" >&2; exit 1 ;;
esac
case "$state" in
  ""|completed) ;;
  *) echo "the update of $SERVICE did not complete (update: $state)" >&2; exit 1 ;;
esac
tasks="$(docker service ps --no-trunc --filter desired-state=running --format '{{.CurrentState}}' "$SERVICE")"
echo "$tasks"
if [ -z "$tasks" ] || echo "$tasks" | grep -qv '^Running'; then
  echo "not every task of $SERVICE is running and healthy" >&2
  exit 1
fi"""


#: Heroku has no health check of its own: wait until every web dyno runs the new release, then ask
#: the app as the image's health check does (an answer below 500; the router says 503 while the app
#: does not answer).
_HEROKU_HEALTH = """\
timeout 600 heroku ps:wait --app "$HEROKU_APP" --type web
url="$(heroku apps:info --app "$HEROKU_APP" --shell | sed -n 's/^web_url=//p')"
url="${url%/}"__HEALTH_PATH__
for attempt in $(seq 30); do
  status="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 "$url" || true)"
  if [ "$status" -ge 200 ] && [ "$status" -lt 500 ]; then echo "$url answered $status"; break; fi
  if [ "$attempt" -eq 30 ]; then echo "$url did not answer (last status: $status)" >&2; exit 1; fi
  sleep 10
done"""


def _swarm(step: str, system: str, project: Project) -> str:
    if step == "setup":
        # The deploy jobs talk to the Swarm manager over SSH: DOCKER_HOST=ssh://user@manager.
        return (
            "mkdir -p ~/.ssh && chmod 700 ~/.ssh\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KEY\" > ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KNOWN_HOSTS\" > ~/.ssh/known_hosts\n"
            'docker login --username "$REGISTRY_USER" --password-stdin "$REGISTRY" <<< "$REGISTRY_PASSWORD"'
            if system != "gitlab"
            else "mkdir -p ~/.ssh && chmod 700 ~/.ssh\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KEY\" > ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KNOWN_HOSTS\" > ~/.ssh/known_hosts\n"
            'echo "$CI_REGISTRY_PASSWORD" | docker login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"'
        )
    if step == "migrate":
        # From here on the release is its digest, not its tag (a tag can be moved): the ledger records
        # it, rollback_release returns to it, and every Swarm node runs exactly that image.
        pin = (
            'docker pull --quiet "$IMAGE"\n'
            'IMAGE="$(docker image inspect --format \'{{index .RepoDigests 0}}\' "$IMAGE")"\n'
            + _KEEP_IMAGE.get(system, "")
        )
        return pin + _docker_run(project, _safe_migrate("pre"))
    if step == "deploy":
        # --detach=false: wait until the update converged (or Swarm rolled it back).
        return 'docker service update --detach=false --with-registry-auth --image "$IMAGE" "$SERVICE"'
    if step == "health":
        return _SWARM_HEALTH
    if step == "post":
        return _docker_run(project, _safe_migrate("post"))
    if step == "rollback":
        # rollback_release reverses the migrations with this (new) image, then points the service at
        # the previous release's image by digest. It needs the engine: the manager's socket, as root.
        return _docker_run(
            project,
            'python manage.py rollback_release --noinput --docker-service "$SERVICE"',
            "--user root -v /var/run/docker.sock:/var/run/docker.sock",
        )
    raise ValueError(step)


#: The manifests of the two migration Jobs and of the rollback Job, as the project holds them.
K8S_JOB = "deploy/kubernetes/{}-job.yaml"


def _kubernetes(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return (
            "mkdir -p ~/.kube && printf '%s\\n' \"$KUBECONFIG_DATA\" > ~/.kube/config && chmod 600 ~/.kube/config\n"
            "kubectl version --client"
        )
    run_job = (
        "kubectl delete job {name} --ignore-not-found --wait=true\n"
        'sed -e "s|__IMAGE__|$IMAGE|g" -e "s|__RELEASE__|$RELEASE|g" {file} | kubectl apply -f -\n'
        "# Wait for the Job to succeed or fail (kubectl wait alone would wait out its timeout on failure).\n"
        "while :; do\n"
        '  succeeded=$(kubectl get job {name} -o jsonpath="{{.status.succeeded}}")\n'
        '  failed=$(kubectl get job {name} -o jsonpath="{{.status.failed}}")\n'
        '  if [ "${{succeeded:-0}}" -ge 1 ]; then kubectl logs job/{name}; break; fi\n'
        '  if [ "${{failed:-0}}" -ge 1 ]; then kubectl logs job/{name}; exit 1; fi\n'
        "  sleep 5\n"
        "done"
    )
    if step in ("migrate", "post"):
        stage = "pre" if step == "migrate" else "post"
        return run_job.format(name=f"{project.name}-migrate-{stage}", file=K8S_JOB.format(f"migrate-{stage}"))
    if step == "deploy":
        return f'kubectl set image deployment/{project.name} {project.name}="$IMAGE"'
    if step == "health":
        # Complete only once every new pod passed its readiness probe (the image's health check).
        return f"kubectl rollout status deployment/{project.name} --timeout=10m"
    if step == "rollback":
        # The database first, with the new image (it has the migration files), then the pods.
        return (
            run_job.format(name=f"{project.name}-rollback", file=K8S_JOB.format("rollback"))
            + f"\nkubectl rollout undo deployment/{project.name}\n"
            f"kubectl rollout status deployment/{project.name} --timeout=10m"
        )
    raise ValueError(step)


def _fly(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return "flyctl version"
    if step == "migrate":
        return ""  # fly.toml's release_command runs safe_migrate --stage pre during `flyctl deploy`
    if step == "deploy":
        # The release command first (on a one-off machine with the new image; the deploy stops when
        # it fails), then the machines one by one, each waiting for fly.toml's health check.
        return 'flyctl deploy --app "$FLY_APP" --image "$IMAGE" --wait-timeout 600'
    if step == "health":
        # On a running machine of the new release, the image's own health check. `ssh console
        # --command` allocates no terminal and exits with the command's status.
        return 'flyctl ssh console --app "$FLY_APP" --command "python /app/docker/healthcheck.py"'
    if step == "post":
        # In the new release's own machine, which names the release as the release command did.
        # Absolute paths: whatever directory the SSH session starts in.
        return 'flyctl ssh console --app "$FLY_APP" --command "python /app/manage.py safe_migrate --stage post"'
    if step == "rollback":
        return (
            'flyctl ssh console --app "$FLY_APP" --command "python /app/manage.py rollback_release --noinput"\n'
            'flyctl deploy --app "$FLY_APP" --image "$PREVIOUS_IMAGE" --wait-timeout 600'
        )
    raise ValueError(step)


def _heroku(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return 'heroku --version && heroku apps:info --app "$HEROKU_APP" > /dev/null'
    if step == "migrate":
        return ""  # heroku.yml's release phase runs safe_migrate --stage pre before the release takes traffic
    if step == "deploy":
        return (
            "git fetch --unshallow 2>/dev/null || true\n"
            'git push "https://heroku:$HEROKU_API_KEY@git.heroku.com/$HEROKU_APP.git" "HEAD:refs/heads/main"'
        )
    if step == "health":
        return _HEROKU_HEALTH.replace("__HEALTH_PATH__", shlex.quote(project.health_path))
    if step == "post":
        # A one-off dyno of the new release, which names the release as its release phase did.
        # --no-tty: CI has no terminal; --exit-code: the job fails when safe_migrate does.
        return 'heroku run --exit-code --no-tty --app "$HEROKU_APP" -- python manage.py safe_migrate --stage post'
    if step == "rollback":
        return (
            'heroku run --exit-code --no-tty --app "$HEROKU_APP" -- python manage.py rollback_release --noinput\n'
            'heroku rollback --app "$HEROKU_APP"'
        )
    raise ValueError(step)


_SCRIPTS = {"swarm": _swarm, "kubernetes": _kubernetes, "fly": _fly, "heroku": _heroku}

TARGETS: dict[str, Target] = {
    "swarm": Target(
        "swarm",
        "Docker host / Swarm",
        files=(("deploy/swarm/stack.yml", "deploy/swarm-stack.yml"),),
        platform_secrets=("DEPLOY_SSH_KEY", "DEPLOY_SSH_KNOWN_HOSTS", "DOCKER_HOST"),
    ),
    "kubernetes": Target(
        "kubernetes",
        "Kubernetes",
        files=(
            ("deploy/kubernetes/deployment.yaml", "deploy/k8s-deployment.yaml"),
            ("deploy/kubernetes/migrate-pre-job.yaml", "deploy/k8s-migrate-pre-job.yaml"),
            ("deploy/kubernetes/migrate-post-job.yaml", "deploy/k8s-migrate-post-job.yaml"),
            ("deploy/kubernetes/rollback-job.yaml", "deploy/k8s-rollback-job.yaml"),
        ),
        platform_secrets=("KUBECONFIG_DATA",),
    ),
    "fly": Target(
        "fly",
        "Fly.io",
        files=(("fly.toml", "deploy/fly.toml"),),
        platform_secrets=("FLY_API_TOKEN",),
        release_phase=True,
    ),
    "heroku": Target(
        "heroku",
        "Heroku",
        files=(("heroku.yml", "deploy/heroku.yml"),),
        platform_secrets=("HEROKU_API_KEY",),
        release_phase=True,
    ),
}
TARGETS["docker"] = TARGETS["swarm"]
