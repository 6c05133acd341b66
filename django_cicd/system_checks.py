"""Django system checks that validate ``settings.CICD``; each id is stable and documented.

=================== =====================================================================
django_cicd.E001    CICD is not a dict
django_cicd.E002    CICD has an unknown key
django_cicd.E003    CICD["CHECKS"] is not a list of dotted paths, or one cannot be imported
django_cicd.E004    CICD["WAIVERS"] is not a list, or an entry is invalid
django_cicd.E005    CICD["FAIL_LEVEL"] is not a level name
django_cicd.E006    a seconds setting (LOCK_WAIT, LOCK_TIMEOUT, STATEMENT_TIMEOUT, LOCK_HEARTBEAT) is not finite and
                    positive (LOCK_WAIT may be 0)
django_cicd.E007    a list-of-names setting (SECRETS, PRODUCTION_ENVIRONMENTS) is not a list of strings
django_cicd.E008    CICD["MIGRATION_SAFETY"] is not a dict of app label to options
django_cicd.E020    CICD["MIGRATION_SAFETY"][app] has an unknown option
django_cicd.E021    CICD["MIGRATION_SAFETY"][app]["accept"] is not a dict, or accepts a rule without a reason
django_cicd.E022    CICD["MIGRATION_SAFETY"][app]["accept"] names an unknown rule, or one that cannot be accepted
django_cicd.E023    CICD["MIGRATION_SAFETY"] names an app label that is not installed
django_cicd.E024    CICD["MIGRATION_SAFETY"]["SMALL_TABLE_ROWS"] is not a whole number >= 0, or an upper-case
                    key of CICD["MIGRATION_SAFETY"] is not an option
django_cicd.E030    CICD["BACKUP_COMPRESS"] or CICD["BACKUP_ENCRYPT"] is not True or False
django_cicd.E032    "dbbackup" is not in INSTALLED_APPS (safe_migrate backs up through its commands)
django_cicd.E009    a name setting (ENVIRONMENT, ENVIRONMENT_VARIABLE, IMAGE_VARIABLE, DOCKER_TAG) is not a
                    string, or STATIC_CHECK is not a bool
django_cicd.E040    CICD["ENV_CONTRACT"] cannot be imported or is not a django_cicd.env.Contract
django_cicd.E041    CICD["SENTRY_STAGES"] is not a list of strings
django_cicd.E042    the contract declares secrets but DEFAULT_EXCEPTION_REPORTER_FILTER would show them
django_cicd.E043    CICD["SENTRY_MONITORS"] is not a dict of command name to monitor slug
django_cicd.E044    CICD["SENTRY_FLUSH_TIMEOUT"] is not a positive number of seconds
django_cicd.E050    CICD["LOG_FORMAT"] is not "text" or "json"
=================== =====================================================================
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from django_cicd.checks.registry import load_project_checks
from django_cicd.checks.waivers import parse_waivers
from django_cicd.conf import DEFAULTS, MIGRATION_SAFETY_OPTIONS
from django_cicd.migrations_safety.acceptance import APP_OPTIONS, rule_problem
from django_cicd.report import Severity


@register()
def check_cicd_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = getattr(settings, "CICD", {})
    if not isinstance(raw, Mapping):
        return [
            Error(
                f"CICD must be a dict, not {type(raw).__name__}.",
                hint="Write CICD = {...} in your settings.",
                id="django_cicd.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for key in raw:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {', '.join(sorted(DEFAULTS))}."
            errors.append(Error(f"CICD has an unknown key {key!r}.", hint=hint, id="django_cicd.E002"))
    errors.extend(_check_checks(raw.get("CHECKS", [])))
    errors.extend(_check_waivers(raw.get("WAIVERS", [])))
    level = raw.get("FAIL_LEVEL", DEFAULTS["FAIL_LEVEL"])
    try:
        Severity.parse_fail_level(str(level))
    except ValueError as exc:
        errors.append(Error(f"CICD['FAIL_LEVEL'] is invalid: {exc}.", id="django_cicd.E005"))
    for key in ("LOCK_WAIT", "LOCK_TIMEOUT", "STATEMENT_TIMEOUT", "LOCK_HEARTBEAT"):
        value = raw.get(key, DEFAULTS[key])
        least = 0 if key == "LOCK_WAIT" else None  # a timeout of 0 means "none" to some servers: refuse it
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
            or (least is None and value == 0)
        ):
            bound = ">= 0" if least == 0 else "> 0"
            errors.append(
                Error(
                    f"CICD[{key!r}] must be a finite number of seconds {bound}, not {value!r}.", id="django_cicd.E006"
                )
            )
    for key in ("SECRETS", "PRODUCTION_ENVIRONMENTS"):
        value = raw.get(key, DEFAULTS[key])
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            errors.append(Error(f"CICD[{key!r}] must be a list of strings.", id="django_cicd.E007"))
    for key in ("ENVIRONMENT_VARIABLE", "IMAGE_VARIABLE", "DOCKER_TAG"):
        value = raw.get(key, DEFAULTS[key])
        if not isinstance(value, str) or not value:
            errors.append(Error(f"CICD[{key!r}] must be a non-empty string, not {value!r}.", id="django_cicd.E009"))
    environment = raw.get("ENVIRONMENT")
    if environment is not None and not isinstance(environment, str):
        errors.append(
            Error(f"CICD['ENVIRONMENT'] must be a string or None, not {environment!r}.", id="django_cicd.E009")
        )
    log_format = raw.get("LOG_FORMAT", DEFAULTS["LOG_FORMAT"])
    if log_format not in ("text", "json"):
        errors.append(Error(f"CICD['LOG_FORMAT'] must be 'text' or 'json', not {log_format!r}.", id="django_cicd.E050"))
    if not isinstance(raw.get("STATIC_CHECK", True), bool):
        errors.append(Error("CICD['STATIC_CHECK'] must be True or False.", id="django_cicd.E009"))
    safety = raw.get("MIGRATION_SAFETY", {})
    apps_part = {k: v for k, v in safety.items() if not _is_option(k)} if isinstance(safety, Mapping) else None
    if apps_part is None or not all(isinstance(v, Mapping) for v in apps_part.values()):
        errors.append(
            Error("CICD['MIGRATION_SAFETY'] must be a dict of app label to a dict of options.", id="django_cicd.E008")
        )
    else:
        errors.extend(_check_safety_options(safety))
        errors.extend(_check_migration_safety(apps_part))
    errors.extend(_check_safe_migrate(raw))
    errors.extend(_check_env_and_sentry(raw))
    return errors


def _check_env_and_sentry(raw: Mapping[str, Any]) -> list[CheckMessage]:
    from django.utils.module_loading import import_string

    from django_cicd import debug, env

    errors: list[CheckMessage] = []
    contract = None
    try:
        contract = env.get_contract()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="django_cicd.E040"))
    stages = raw.get("SENTRY_STAGES", DEFAULTS["SENTRY_STAGES"])
    if not isinstance(stages, (list, tuple)) or not all(isinstance(v, str) for v in stages):
        errors.append(Error("CICD['SENTRY_STAGES'] must be a list of stage names.", id="django_cicd.E041"))
    if contract is not None and any(var.secret for var in contract.variables):
        path = getattr(settings, "DEFAULT_EXCEPTION_REPORTER_FILTER", "")
        try:
            filter_class = import_string(path)
        except ImportError:
            filter_class = None
        if not (isinstance(filter_class, type) and issubclass(filter_class, debug.SecretsExceptionReporterFilter)):
            errors.append(
                Error(
                    "The environment contract declares secret variables, but DEFAULT_EXCEPTION_REPORTER_FILTER "
                    f"({path}) would show their values on debug pages and in error e-mails.",
                    hint=(
                        "Set DEFAULT_EXCEPTION_REPORTER_FILTER = "
                        "'django_cicd.debug.SecretsExceptionReporterFilter' (or a subclass of it)."
                    ),
                    id="django_cicd.E042",
                )
            )
    monitors = raw.get("SENTRY_MONITORS", DEFAULTS["SENTRY_MONITORS"])
    if not isinstance(monitors, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in monitors.items()
    ):
        errors.append(
            Error(
                "CICD['SENTRY_MONITORS'] must be a dict of command name to Sentry monitor slug, "
                "e.g. {'safe_migrate': 'deploy-migrations'}.",
                id="django_cicd.E043",
            )
        )
    timeout = raw.get("SENTRY_FLUSH_TIMEOUT", DEFAULTS["SENTRY_FLUSH_TIMEOUT"])
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        errors.append(
            Error(
                f"CICD['SENTRY_FLUSH_TIMEOUT'] must be a number of seconds > 0, not {timeout!r}.",
                id="django_cicd.E044",
            )
        )
    return errors


def _is_option(key: Any) -> bool:
    """Upper-case keys of CICD["MIGRATION_SAFETY"] are options (SMALL_TABLE_ROWS); the others app labels."""
    return isinstance(key, str) and key.isupper()


def _check_safety_options(safety: Mapping[Any, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, value in safety.items():
        if not _is_option(key):
            continue
        if key not in MIGRATION_SAFETY_OPTIONS:
            close = difflib.get_close_matches(key, MIGRATION_SAFETY_OPTIONS, n=1)
            errors.append(
                Error(
                    f"CICD['MIGRATION_SAFETY'] has an unknown option {key!r}.",
                    hint=f"Did you mean {close[0]!r}?" if close else f"Allowed: {', '.join(MIGRATION_SAFETY_OPTIONS)}.",
                    id="django_cicd.E024",
                )
            )
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.append(
                Error(
                    f"CICD['MIGRATION_SAFETY'][{key!r}] must be a whole number of rows >= 0, not {value!r}.",
                    hint="Lock and rewrite findings on tables with fewer rows are warnings; the default is 10000.",
                    id="django_cicd.E024",
                )
            )
    return errors


def _check_migration_safety(safety: Mapping[Any, Mapping[Any, Any]]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    installed = {config.label for config in apps.get_app_configs()}
    for app_label, options in safety.items():
        where = f"CICD['MIGRATION_SAFETY'][{app_label!r}]"
        if app_label not in installed:
            close = difflib.get_close_matches(str(app_label), installed, n=1)
            errors.append(
                Error(
                    f"{where} names the app label {app_label!r}, which is not installed.",
                    hint=f"Did you mean {close[0]!r}?" if close else "Use the label of an app in INSTALLED_APPS.",
                    id="django_cicd.E023",
                )
            )
        for key in options:
            if key not in APP_OPTIONS:
                errors.append(
                    Error(
                        f"{where} has an unknown option {key!r}.",
                        hint=f"Allowed: {', '.join(APP_OPTIONS)}.",
                        id="django_cicd.E020",
                    )
                )
        accepted = options.get("accept", {})
        if not isinstance(accepted, Mapping):
            errors.append(
                Error(
                    f"{where}['accept'] must be a dict of rule id to reason, not {type(accepted).__name__}.",
                    id="django_cicd.E021",
                )
            )
            continue
        for rule_id, reason in accepted.items():
            problem = rule_problem(rule_id)
            if problem is not None:
                errors.append(Error(f"{where}['accept'] {problem}", id="django_cicd.E022"))
            elif not isinstance(reason, str) or not reason.strip():
                errors.append(
                    Error(
                        f"{where}['accept'] accepts {rule_id!r} without a reason.",
                        hint="Write why the risk is acceptable for this app, as the value of the rule id.",
                        id="django_cicd.E021",
                    )
                )
    return errors


def _check_safe_migrate(raw: Mapping[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key in ("BACKUP_COMPRESS", "BACKUP_ENCRYPT"):
        value = raw.get(key, DEFAULTS[key])
        if not isinstance(value, bool):
            errors.append(Error(f"CICD[{key!r}] must be True or False, not {value!r}.", id="django_cicd.E030"))
    if not apps.is_installed("dbbackup"):
        errors.append(
            Error(
                "'dbbackup' is not in INSTALLED_APPS, so safe_migrate cannot take its backup before migrating.",
                hint="Add 'dbbackup' to INSTALLED_APPS: django-cicd backs up through django-dbbackup's commands.",
                id="django_cicd.E032",
            )
        )
    return errors


def _check_checks(value: Any) -> list[CheckMessage]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return [Error("CICD['CHECKS'] must be a list of dotted paths.", id="django_cicd.E003")]
    try:
        load_project_checks(value)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="django_cicd.E003")]
    return []


def _check_waivers(value: Any) -> list[CheckMessage]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, Mapping) for v in value):
        return [
            Error(
                "CICD['WAIVERS'] must be a list of dicts with id, reason and optional expires and environments.",
                id="django_cicd.E004",
            )
        ]
    _waivers, problems = parse_waivers(value)
    return [Error(problem, id="django_cicd.E004") for problem in problems]
