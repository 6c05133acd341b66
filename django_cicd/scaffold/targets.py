"""Where the application runs: what each deploy target adds to the pipelines and to the project.

A target gives the shell scripts that the GitHub and GitLab deploy jobs run, in this order (see
:data:`DEPLOY_STEPS`): ``setup`` (credentials for the platform); ``migrate``, the pre-deploy stage
(``safe_migrate --stage pre``: the migrations that are safe while the old code still serves, as a
one-off job with the new image); ``deploy`` (the rollout: switch the service to the new image);
``health`` (the new release answers, by the platform's own account: converged, health checks
passing); ``post``, the post-deploy stage (``safe_migrate --stage post``: what had to wait for the
new code, under the same release). ``rollback`` runs ``rollback_release`` with the *new* image, which
still has the migration files, then the platform's own switch back to the previous image.

Heroku, Fly.io and Elastic Beanstalk run the pre-deploy stage themselves, in their release phase
(``heroku.yml``'s ``release``, ``fly.toml``'s ``release_command``, a ``leader_only`` container
command in ``.ebextensions``), inside the rollout: their ``migrate`` script is empty and the rollout
step is where the pre-deploy stage runs (:attr:`Target.release_phase`). Cloud Run runs both stages
as Cloud Run Jobs, around a revision deployed without traffic.

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


#: The manifests of Cloud Run's migration Jobs and rollback Job, and of its service, as the project holds them.
CLOUD_RUN_FILE = "deploy/cloudrun/{}.yaml"

#: Cloud Run runs images from Artifact Registry: the deploy copies the image of this commit there once,
#: and from then on the release is its digest in Artifact Registry (as the ledger records it).
_CLOUD_RUN_COPY = """\
gcloud auth configure-docker "${GCP_REPOSITORY%%/*}" --quiet
docker pull --quiet "$IMAGE"
docker tag "$IMAGE" "$GCP_REPOSITORY/__NAME__:$RELEASE"
docker push --quiet "$GCP_REPOSITORY/__NAME__:$RELEASE"
IMAGE="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' \\
  "$GCP_REPOSITORY/__NAME__:$RELEASE" | grep -m 1 "^$GCP_REPOSITORY/__NAME__@")"
echo "Cloud Run image: $IMAGE\""""

#: Replace a Cloud Run Job with this release's manifest, run it, and wait: `--wait` returns non-zero
#: when the execution fails (the Job has maxRetries 0: a half-done migration is never retried).
_CLOUD_RUN_JOB = """\
manifest="$(mktemp)"
sed -e "s|__IMAGE__|$IMAGE|g" -e "s|__RELEASE__|$RELEASE|g" -e "s|__PROJECT__|$GCP_PROJECT|g" __FILE__ > "$manifest"
gcloud run jobs replace "$manifest" --region "$GCP_REGION" --quiet
gcloud run jobs execute __JOB__ --region "$GCP_REGION" --wait"""

#: Health by Cloud Run's own account (Ready: the latest revision passed its startup probe on the health
#: path, and it is the one that serves), then by asking the service as the probes do (below 500).
_CLOUD_RUN_HEALTH = """\
gcloud run services describe "$SERVICE" --region "$GCP_REGION" --format json | python3 -c '
import json, sys
status = json.load(sys.stdin).get("status", {})
ready = [c.get("status") for c in status.get("conditions", []) if c.get("type") == "Ready"]
latest = status.get("latestCreatedRevisionName")
serving = [t.get("revisionName") or latest for t in status.get("traffic", []) if t.get("percent")]
print("Ready:", ready, "latest revision:", latest, "serving:", serving)
if ready != ["True"] or status.get("latestReadyRevisionName") != latest or serving != [latest]:
    sys.exit("the new revision is not ready, or does not serve all the traffic")
'
base="$(gcloud run services describe "$SERVICE" --region "$GCP_REGION" --format 'value(status.url)')"
url="$base"__HEALTH_PATH__
# An identity token for a service that requires authentication (harmless for a public one).
token="$(gcloud auth print-identity-token --audiences "$base")"
for attempt in $(seq 30); do
  status="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 \\
    --header "Authorization: Bearer $token" "$url" || true)"
  if [ "$status" -ge 200 ] && [ "$status" -lt 500 ]; then echo "$url answered $status"; break; fi
  if [ "$attempt" -eq 30 ]; then echo "$url did not answer (last status: $status)" >&2; exit 1; fi
  sleep 10
done"""

#: The revision to go back to: the newest one that runs another image than this release's digest.
_CLOUD_RUN_PREVIOUS = """\
digest="$(gcloud artifacts docker images describe "$IMAGE" --format 'value(image_summary.fully_qualified_digest)')"
previous="$(gcloud run revisions list --service "$SERVICE" --region "$GCP_REGION" \\
  --sort-by '~metadata.creationTimestamp' --format 'value(metadata.name,spec.containers[0].image)' \\
  | awk -v new="$digest" '$2 != new { print $1; exit }')"
if [ -z "$previous" ]; then echo "no earlier revision of $SERVICE to go back to" >&2; exit 1; fi
gcloud run services update-traffic "$SERVICE" --region "$GCP_REGION" --to-revisions "$previous=100" --quiet
echo "$SERVICE serves $previous again\""""


def _cloudrun(step: str, system: str, project: Project) -> str:
    name = project.name

    def job(job_name: str, file: str) -> str:
        return _CLOUD_RUN_JOB.replace("__JOB__", job_name).replace("__FILE__", CLOUD_RUN_FILE.format(file))

    if step == "setup":
        # A service account key in GCP_SA_KEY (see docs/targets/cloud-run.md for Workload Identity).
        return (
            'printf \'%s\' "$GCP_SA_KEY" > "${RUNNER_TEMP:-/tmp}/gcp-key.json"\n'
            'gcloud auth activate-service-account --key-file "${RUNNER_TEMP:-/tmp}/gcp-key.json" --quiet\n'
            'rm -f "${RUNNER_TEMP:-/tmp}/gcp-key.json"\n'
            'gcloud config set project "$GCP_PROJECT" --quiet'
        )
    if step == "migrate":
        copy = _CLOUD_RUN_COPY.replace("__NAME__", name)
        if system in _KEEP_IMAGE:
            copy += "\n" + _KEEP_IMAGE[system].rstrip("\n")
        return copy + "\n" + job(f"{name}-migrate-pre", "migrate-pre-job")
    if step == "deploy":
        # A new revision that takes no traffic until Cloud Run found it ready (its startup probe on
        # the health path); `gcloud run deploy` fails when it never is. Then all traffic moves to it.
        return (
            'gcloud run deploy "$SERVICE" --region "$GCP_REGION" --image "$IMAGE" --no-traffic --quiet \\\n'
            '  --update-labels "release=$RELEASE"\n'
            'gcloud run services update-traffic "$SERVICE" --region "$GCP_REGION" --to-latest --quiet'
        )
    if step == "health":
        return _CLOUD_RUN_HEALTH.replace("__HEALTH_PATH__", shlex.quote(project.health_path))
    if step == "post":
        return job(f"{name}-migrate-post", "migrate-post-job")
    if step == "rollback":
        # The database first, with this release's image (it has the migration files), then the traffic.
        return (
            f'IMAGE="$GCP_REPOSITORY/{name}:$RELEASE"\n'
            + job(f"{name}-rollback", "rollback-job")
            + "\n"
            + _CLOUD_RUN_PREVIOUS
        )
    raise ValueError(step)


#: Run ``manage.py`` on one instance of the environment, through AWS Systems Manager (the instances
#: need the SSM agent and the AmazonSSMManagedInstanceCore policy), and fail when the command does.
#: deploy/elasticbeanstalk/run.sh, in the bundle, gives it the virtualenv and the environment's properties.
_EB_RUN = """\
# An instance that runs this release (enhanced health reports each instance's version).
instance="$(aws elasticbeanstalk describe-instances-health --environment-name "$EB_ENVIRONMENT" \\
  --attribute-names Deployment --output text \\
  --query "InstanceHealthList[?Deployment.VersionLabel=='$RELEASE'] | [0].InstanceId")"
case "$instance" in
  ""|None) echo "no instance of $EB_ENVIRONMENT runs $RELEASE" >&2; exit 1 ;;
esac
command_id="$(aws ssm send-command --instance-ids "$instance" --document-name AWS-RunShellScript \\
  --comment "django-cicd $RELEASE" --timeout-seconds 600 \\
  --parameters 'commands=["bash /var/app/current/deploy/elasticbeanstalk/run.sh python manage.py __ARGS__"]' \\
  --query 'Command.CommandId' --output text)"
# Until the command ends (the invocation may not be visible yet right after send-command; the
# document stops a command after an hour, its default executionTimeout).
while :; do
  result="$(aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance" \\
    --query Status --output text 2> /dev/null || echo Pending)"
  case "$result" in
    Pending|InProgress|Delayed) sleep 5 ;;
    *) break ;;
  esac
done
aws ssm get-command-invocation --command-id "$command_id" --instance-id "$instance" \\
  --query '[StandardOutputContent, StandardErrorContent]' --output text
if [ "$result" != Success ]; then echo "the command on $instance ended with $result" >&2; exit 1; fi"""

#: Health by Elastic Beanstalk's own account (the environment is Ready, runs this version, and its
#: enhanced health is Green: every instance passed the health check on the health path), then by
#: asking the environment's URL as the health check does (an answer below 500).
_EB_HEALTH = """\
for attempt in $(seq 60); do
  read -r status health version cname <<< "$(aws elasticbeanstalk describe-environments \\
    --environment-names "$EB_ENVIRONMENT" \\
    --query 'Environments[0].[Status, Health, VersionLabel, CNAME]' --output text)"
  echo "$EB_ENVIRONMENT: $status, $health, version $version"
  if [ "$version" != "$RELEASE" ]; then echo "$EB_ENVIRONMENT runs $version, not $RELEASE" >&2; exit 1; fi
  if [ "$status" = Ready ] && [ "$health" = Green ]; then break; fi
  if [ "$attempt" -eq 60 ]; then echo "$EB_ENVIRONMENT did not become healthy" >&2; exit 1; fi
  sleep 10
done
url="http://$cname"__HEALTH_PATH__
code="$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 "$url" || true)"
echo "$url answered $code"
if [ "$code" -lt 200 ] || [ "$code" -ge 500 ]; then exit 1; fi"""


def _elasticbeanstalk(step: str, system: str, project: Project) -> str:
    if step == "setup":
        # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION from the job's environment.
        return "aws --version\naws sts get-caller-identity --query Arn --output text"
    if step == "migrate":
        return ""  # .ebextensions: container_commands run safe_migrate --stage pre on the leader instance
    if step == "deploy":
        # The source bundle of this commit, as an application version labelled with the commit; then the
        # environment update: on the leader instance, container_commands run the pre-deploy stage before
        # the new version takes traffic, and a failure there fails the update.
        return (
            'bucket="$(aws elasticbeanstalk create-storage-location --query S3Bucket --output text)"\n'
            "# REVISION names the release for the ledger (safe_migrate reads it in the working directory).\n"
            "printf '%s\\n' \"$RELEASE\" > REVISION\n"
            'git archive --format=zip --add-file REVISION --output "bundle-$RELEASE.zip" HEAD\n'
            'aws s3 cp --only-show-errors "bundle-$RELEASE.zip" "s3://$bucket/$EB_APPLICATION/$RELEASE.zip"\n'
            'if ! aws elasticbeanstalk describe-application-versions --application-name "$EB_APPLICATION" \\\n'
            '  --version-labels "$RELEASE" --query "ApplicationVersions[0].VersionLabel" --output text \\\n'
            '  | grep -q "$RELEASE"; then\n'
            '  aws elasticbeanstalk create-application-version --application-name "$EB_APPLICATION" \\\n'
            '    --version-label "$RELEASE" --source-bundle "S3Bucket=$bucket,S3Key=$EB_APPLICATION/$RELEASE.zip" \\\n'
            '    --process --description "django-cicd release $RELEASE" > /dev/null\n'
            "fi\n"
            'aws elasticbeanstalk update-environment --environment-name "$EB_ENVIRONMENT" \\\n'
            '  --version-label "$RELEASE" > /dev/null\n'
            'aws elasticbeanstalk wait environment-updated --environment-names "$EB_ENVIRONMENT"'
        )
    if step == "health":
        return _EB_HEALTH.replace("__HEALTH_PATH__", shlex.quote(project.health_path))
    if step == "post":
        # On one instance of the new version, which names the release as its container_commands did.
        return _EB_RUN.replace("__ARGS__", "safe_migrate --stage post")
    if step == "rollback":
        # The database first, on an instance that still runs this release (it has the migration files),
        # then the previous application version, labelled with the previous commit.
        return (
            _EB_RUN.replace("__ARGS__", "rollback_release --noinput") + '\nprevious="${PREVIOUS_IMAGE##*:}"\n'
            'aws elasticbeanstalk update-environment --environment-name "$EB_ENVIRONMENT" \\\n'
            '  --version-label "$previous" > /dev/null\n'
            'aws elasticbeanstalk wait environment-updated --environment-names "$EB_ENVIRONMENT"'
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


_SCRIPTS = {
    "swarm": _swarm,
    "kubernetes": _kubernetes,
    "fly": _fly,
    "heroku": _heroku,
    "cloudrun": _cloudrun,
    "elasticbeanstalk": _elasticbeanstalk,
}

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
TARGETS["cloudrun"] = Target(
    "cloudrun",
    "Google Cloud Run",
    files=(
        ("deploy/cloudrun/service.yaml", "deploy/cloudrun-service.yaml"),
        ("deploy/cloudrun/migrate-pre-job.yaml", "deploy/cloudrun-migrate-pre-job.yaml"),
        ("deploy/cloudrun/migrate-post-job.yaml", "deploy/cloudrun-migrate-post-job.yaml"),
        ("deploy/cloudrun/rollback-job.yaml", "deploy/cloudrun-rollback-job.yaml"),
    ),
    # GCP_PROJECT, GCP_REGION and GCP_REPOSITORY are not secret; kept in the same store for one place.
    platform_secrets=("GCP_SA_KEY", "GCP_PROJECT", "GCP_REGION", "GCP_REPOSITORY"),
)
TARGETS["elasticbeanstalk"] = Target(
    "elasticbeanstalk",
    "AWS Elastic Beanstalk",
    files=(
        ("Procfile", "deploy/eb-Procfile"),
        (".ebextensions/django-cicd.config", "deploy/eb-django-cicd.config"),
        (".platform/hooks/predeploy/01_django_cicd.sh", "deploy/eb-predeploy.sh"),
        ("deploy/elasticbeanstalk/run.sh", "deploy/eb-run.sh"),
    ),
    platform_secrets=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"),
    release_phase=True,
)
TARGETS["docker"] = TARGETS["swarm"]
