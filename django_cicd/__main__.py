"""``python -m django_cicd COMMAND`` (or the ``django-cicd`` script): ``manage.py`` with the exit-code contract.

Django's ``manage.py`` turns settings that fail to import into a traceback and exit code 1, the code
our commands use for "the answer is no". CI needs to tell "the build is bad" from "the job is
misconfigured", so this entry point reports broken settings in one redacted line and exits 2
(an environment that breaks the settings' contract: its list of problems, as ``manage.py`` shows it
since :func:`django_cicd.env.report_contract_error`).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in {"-h", "--help"}:
        sys.stdout.write(
            "usage: django-cicd COMMAND [options]   (e.g. predeploy, safe_migrate, rollback_release)\n"
            "Runs a Django management command with DJANGO_SETTINGS_MODULE (or --settings=...);\n"
            "exits 2 when the settings cannot be loaded.\n"
        )
        return 0 if len(argv) >= 2 else 2
    # The same two options manage.py reads before loading settings, in either spelling.
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--settings")
    parser.add_argument("--pythonpath")
    early, _ = parser.parse_known_args(argv[2:])
    if early.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = early.settings
    if early.pythonpath:
        sys.path.insert(0, early.pythonpath)
    sys.path.insert(0, os.getcwd())
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        sys.stderr.write("django-cicd: set DJANGO_SETTINGS_MODULE or pass --settings=yourproject.settings\n")
        return 2
    try:
        import django

        django.setup()
    except Exception as exc:  # noqa: BLE001 (whatever the settings raise, the job could not run)
        from django_cicd.env import ContractError, report_contract_error
        from django_cicd.redaction import redact

        if isinstance(exc, ContractError):
            return report_contract_error(exc, ["django-cicd", *argv[1:]], "django-cicd")

        message = redact(str(exc))
        sys.stderr.write(f"django-cicd: the settings could not be loaded: {type(exc).__name__}: {message}\n")
        return 2
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *argv[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
