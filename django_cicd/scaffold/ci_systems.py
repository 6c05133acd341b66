"""What the CircleCI, Travis CI and Jenkins pipelines need beyond the target's scripts.

The deploy target's scripts (:mod:`django_cicd.scaffold.targets`) are shared by every CI system;
this module fits them into each system's file: the indentation of a YAML block, a Groovy string
for a Jenkinsfile, and the platform's command line tool on a build machine that does not have it
(GitLab picks an image that has it; these systems run on a general-purpose image or agent).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from django_cicd.scaffold.targets import DEPLOY_STEPS, Target

if TYPE_CHECKING:
    from django_cicd.scaffold import Project

#: The systems whose files this module fills in, and the indentation of a script in their YAML
#: block (Jenkins: none, the script is a Groovy string).
SYSTEMS = {"circleci": 12, "travis": 10, "jenkins": 0}

#: Installs the platform's command line tool for the current user (no root needed), on PATH for
#: the lines after it. Targets not listed need only docker and ssh, or bring their own step.
PLATFORM_TOOLS = {
    "kubernetes": (
        'mkdir -p "$HOME/bin" && export PATH="$HOME/bin:$PATH"\n'
        'curl -fsSLo "$HOME/bin/kubectl" "https://dl.k8s.io/release/$(curl -fsSL https://dl.k8s.io/release/stable.txt)/bin/linux/amd64/kubectl"\n'
        'chmod +x "$HOME/bin/kubectl"'
    ),
    "fly": 'curl -fsSL https://fly.io/install.sh | sh\nexport PATH="$HOME/.fly/bin:$PATH"',
    "heroku": "curl -fsSL https://cli-assets.heroku.com/install.sh | sh",
    # Google's own archive of the gcloud CLI (no package manager needed), then the CLI on PATH.
    "cloudrun": (
        "gcloud_archive=https://dl.google.com/dl/cloudsdk/channels/rapid/google-cloud-cli-linux-x86_64.tar.gz\n"
        'curl -fsSL "$gcloud_archive" | tar -xz -C "$HOME"\n'
        'export PATH="$HOME/google-cloud-sdk/bin:$PATH"'
    ),
    # AWS's own bundled installer: no Python needed (a pip --user install fails in Travis CI's
    # virtualenv, and the CircleCI deploy image has no pip), installed under $HOME without root.
    "elasticbeanstalk": (
        'curl -fsSL -o "$HOME/awscliv2.zip" https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip\n'
        'unzip -q -o "$HOME/awscliv2.zip" -d "$HOME"\n'
        '"$HOME/aws/install" --install-dir "$HOME/aws-cli" --bin-dir "$HOME/bin" --update\n'
        'export PATH="$HOME/bin:$PATH"'
    ),
}


def _groovy(script: str) -> str:
    """``script`` inside a Groovy ``'''...'''`` string: backslashes doubled (Groovy would read
    ``\\n`` as a newline and a backslash at the end of a line as a continuation); ``$`` needs
    nothing, single-quoted Groovy strings do not interpolate."""
    if "'''" in script:
        raise ValueError("a script with ''' cannot go into a Groovy '''-string")
    return script.replace("\\", "\\\\")


def _fit(system: str, script: str) -> str:
    if system == "jenkins":
        return _groovy(script)
    return textwrap.indent(script, " " * SYSTEMS[system]).rstrip()


def ci_context(project: Project, target: Target) -> dict[str, Any]:
    """Template variables ``<system>_<step>`` (the target's scripts, fitted), ``<system>_tools``
    and ``<system>_deploy_all``: the deploy steps after ``setup``, in order, for one shell (Travis CI
    and Jenkins)."""
    # A Jenkins credential that does not exist fails the stage: bind the ones the settings require;
    # an optional secret is one line to add where it is used (the file says which).
    context: dict[str, Any] = {"jenkins_app_variables": (*project.config_variables, *project.required_secrets)}
    # Travis CI exports every repository variable into every job: production's, the platform's
    # credentials included (DOCKER_HOST would send the build job's docker to the Swarm manager),
    # carry the PRODUCTION_ prefix and only the deploy and rollback jobs export them unprefixed.
    context["travis_production_variables"] = (*project.app_variables[1:], *target.platform_secrets)
    tools = PLATFORM_TOOLS.get(target.name, "")
    for system in SYSTEMS:
        scripts = {step: target.script(step, system, project) for step in (*DEPLOY_STEPS, "rollback")}
        for step, script in scripts.items():
            context[f"{system}_{step}"] = _fit(system, script) if script else ""
        context[f"{system}_tools"] = _fit(system, tools) if tools else ""
        # One shell for the whole deploy (Travis CI's script lines do not stop at a failure; a
        # Jenkins `sh` step cannot hand a variable to the next): each part named, the first failure ends it.
        titles = {
            "migrate": "Migrate, pre-deploy stage (safe_migrate --stage pre, while the old code serves)",
            "deploy": (
                "Roll out the new release (its release phase runs safe_migrate --stage pre before it takes traffic)"
                if target.release_phase
                else "Roll out the new image"
            ),
            "health": "Health check (the new release answers)",
            "post": "Migrate, post-deploy stage (safe_migrate --stage post, once the new release is live)",
        }
        steps = [step for step in DEPLOY_STEPS if step != "setup" and scripts[step]]
        parts = [f"echo '--- {titles[step]}'\n{scripts[step]}" for step in steps]
        context[f"{system}_deploy_all"] = _fit(system, "\n".join(parts))
    return context
