"""Where the application runs: what each deploy target adds to the pipelines and to the project.

A target gives four shell scripts that the GitHub and GitLab pipelines run, in this order:
``setup`` (credentials for the platform), ``migrate`` (``safe_migrate`` as a one-off job, with the
new image), ``deploy`` (switch the running service to the new image) and ``rollback``
(``rollback_release`` with the *new* image, which still has the migration files, then the platform's
own switch back to the previous image). The scripts read ``$IMAGE`` (the image of this commit) and
``$RELEASE`` (the commit), and secrets only from the environment, never from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_cicd.scaffold import Project

CI_SYSTEMS = ("github", "gitlab")


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

    def script(self, step: str, system: str, project: Project) -> str:
        return _SCRIPTS[self.name](step, system, project)


def _docker_run(project: Project, command: str, *extra: str) -> str:
    flags = " ".join(f"-e {var}" for var in project.app_variables)
    parts = ["docker run --rm", flags, *extra, '"$IMAGE"', command]
    return " \\\n  ".join(part for part in parts if part)


def _swarm(step: str, system: str, project: Project) -> str:
    if step == "setup":
        # The deploy jobs talk to the Swarm manager over SSH: DOCKER_HOST=ssh://user@manager.
        return (
            "mkdir -p ~/.ssh && chmod 700 ~/.ssh\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KEY\" > ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519\n"
            "printf '%s\\n' \"$DEPLOY_SSH_KNOWN_HOSTS\" > ~/.ssh/known_hosts\n"
            'docker login --username "$REGISTRY_USER" --password-stdin "$REGISTRY" <<< "$REGISTRY_PASSWORD"'
            if system == "github"
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
            + ('echo "IMAGE=$IMAGE" >> "$GITHUB_ENV"\n' if system == "github" else "")
        )
        return pin + _docker_run(project, 'python manage.py safe_migrate --release "$RELEASE" --image "$IMAGE"')
    if step == "deploy":
        return 'docker service update --with-registry-auth --image "$IMAGE" "$SERVICE"'
    if step == "rollback":
        # rollback_release reverses the migrations with this (new) image, then points the service at
        # the previous release's image by digest. It needs the engine: the manager's socket, as root.
        return _docker_run(
            project,
            'python manage.py rollback_release --noinput --docker-service "$SERVICE"',
            "--user root -v /var/run/docker.sock:/var/run/docker.sock",
        )
    raise ValueError(step)


def _kubernetes(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return (
            "mkdir -p ~/.kube && printf '%s\\n' \"$KUBECONFIG_DATA\" > ~/.kube/config && chmod 600 ~/.kube/config\n"
            "kubectl version --client"
        )
    job = "deploy/kubernetes/{}-job.yaml"
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
    if step == "migrate":
        return run_job.format(name=f"{project.name}-migrate", file=job.format("migrate"))
    if step == "deploy":
        return (
            f'kubectl set image deployment/{project.name} {project.name}="$IMAGE"\n'
            f"kubectl rollout status deployment/{project.name} --timeout=10m"
        )
    if step == "rollback":
        # The database first, with the new image (it has the migration files), then the pods.
        return (
            run_job.format(name=f"{project.name}-rollback", file=job.format("rollback"))
            + f"\nkubectl rollout undo deployment/{project.name}\n"
            f"kubectl rollout status deployment/{project.name} --timeout=10m"
        )
    raise ValueError(step)


def _fly(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return "flyctl version"
    if step == "migrate":
        return "# fly.toml's release_command runs safe_migrate on a one-off machine during `flyctl deploy`."
    if step == "deploy":
        return 'flyctl deploy --app "$FLY_APP" --image "$IMAGE" --wait-timeout 600'
    if step == "rollback":
        return (
            'flyctl ssh console --app "$FLY_APP" --command "python manage.py rollback_release --noinput"\n'
            'flyctl deploy --app "$FLY_APP" --image "$PREVIOUS_IMAGE" --wait-timeout 600'
        )
    raise ValueError(step)


def _heroku(step: str, system: str, project: Project) -> str:
    if step == "setup":
        return 'heroku --version && heroku apps:info --app "$HEROKU_APP" > /dev/null'
    if step == "migrate":
        return "# heroku.yml's release phase runs safe_migrate before the new release takes traffic."
    if step == "deploy":
        return (
            "git fetch --unshallow 2>/dev/null || true\n"
            'git push "https://heroku:$HEROKU_API_KEY@git.heroku.com/$HEROKU_APP.git" "HEAD:refs/heads/main"'
        )
    if step == "rollback":
        return (
            'heroku run --exit-code --app "$HEROKU_APP" -- python manage.py rollback_release --noinput\n'
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
            ("deploy/kubernetes/migrate-job.yaml", "deploy/k8s-migrate-job.yaml"),
            ("deploy/kubernetes/rollback-job.yaml", "deploy/k8s-rollback-job.yaml"),
        ),
        platform_secrets=("KUBECONFIG_DATA",),
    ),
    "fly": Target("fly", "Fly.io", files=(("fly.toml", "deploy/fly.toml"),), platform_secrets=("FLY_API_TOKEN",)),
    "heroku": Target(
        "heroku", "Heroku", files=(("heroku.yml", "deploy/heroku.yml"),), platform_secrets=("HEROKU_API_KEY",)
    ),
}
TARGETS["docker"] = TARGETS["swarm"]
