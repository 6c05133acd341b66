"""One typed, lazily read view of ``settings.CICD``.

Every attribute is read from ``django.conf.settings`` at access time, so ``override_settings(CICD=...)``
works in tests and nothing is frozen at import. Validation lives in :mod:`django_cicd.system_checks`;
this module only returns values (with defaults) and never raises for a bad type, so that the
system checks can report every problem at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: The environment variable naming the stage when neither ``CICD["ENVIRONMENT_VARIABLE"]`` nor the env
#: contract names another; the one default of both (see :func:`stage_variable`).
DEFAULT_STAGE_VARIABLE = "DJANGO_ENV"

#: Every key ``settings.CICD`` may hold, with its default. The system checks reject others.
DEFAULTS: dict[str, Any] = {
    # predeploy
    "CHECKS": [],  # dotted paths of modules or check functions to register
    "WAIVERS": [],  # [{"id", "reason", "expires", "environments"}]
    "FAIL_LEVEL": "warning",
    "ENVIRONMENT": None,  # the stage; None reads the variable stage_variable() names
    "ENVIRONMENT_VARIABLE": DEFAULT_STAGE_VARIABLE,  # when set, wins over the env contract's stage_variable
    "STATIC_CHECK": True,
    "SECRETS": [],  # extra setting names or environment variable names whose values are secret
    # migration safety analysis
    "MIGRATION_SAFETY": {},  # {app_label: {"accept": {rule_id: reason}}, "SMALL_TABLE_ROWS": 10_000}
    # safe_migrate / rollback_release
    "LOCK_WAIT": 600,  # seconds a second migrator waits for the deploy lock
    "LOCK_TIMEOUT": None,  # database lock_timeout during migrations (seconds)
    "STATEMENT_TIMEOUT": None,  # database statement timeout during migrations (seconds)
    "LOCK_HEARTBEAT": 5,  # seconds between two checks that the deploy lock is still held (while idle)
    "PRODUCTION_ENVIRONMENTS": ["production"],
    "IMAGE_VARIABLE": "CICD_IMAGE",
    "DOCKER_TAG": "current",
    # safe_migrate backups (through django-dbbackup)
    "BACKUP_COMPRESS": False,  # gzip the backup (dbbackup --compress)
    "BACKUP_ENCRYPT": False,  # GPG-encrypt the backup (dbbackup --encrypt, DBBACKUP_GPG_RECIPIENT)
    # environment contract and Sentry
    "ENV_CONTRACT": None,  # dotted path of a django_cicd.env.Contract; None: the one the settings loaded
    "SENTRY_STAGES": [],  # stages in which predeploy requires Sentry to be set up (it is an optional extra)
    "SENTRY_MONITORS": {},  # {"safe_migrate": "monitor-slug", ...}; default slugs are the command names
    "SENTRY_FLUSH_TIMEOUT": 5,  # seconds a command waits for Sentry to receive its events before exiting
    # logs
    "LOG_FORMAT": "text",  # "json": every command's events as JSON lines on stderr (--log-format)
}

#: The options of ``CICD["MIGRATION_SAFETY"]`` (upper case, beside the app labels), with their default.
MIGRATION_SAFETY_OPTIONS: dict[str, Any] = {
    # Lock and rewrite findings on a table with fewer rows are warnings, from it errors (at 10,000
    # rows an index build or a table rewrite on PostgreSQL takes under 0.1 s: docs/migration-safety.md).
    "SMALL_TABLE_ROWS": 10_000,
}


class CicdSettings:
    """Attribute access to ``settings.CICD`` with defaults; re-read on every access."""

    @property
    def raw(self) -> Mapping[str, Any]:
        value = getattr(settings, "CICD", {})
        return value if isinstance(value, Mapping) else {}

    def get(self, key: str) -> Any:
        if key not in DEFAULTS:
            raise AttributeError(f"CICD has no setting {key!r}")
        return self.raw.get(key, DEFAULTS[key])

    @property
    def CHECKS(self) -> Sequence[str]:
        value = self.get("CHECKS")
        return list(value) if isinstance(value, (list, tuple)) else []

    @property
    def WAIVERS(self) -> Sequence[Mapping[str, Any]]:
        value = self.get("WAIVERS")
        return [w for w in value if isinstance(w, Mapping)] if isinstance(value, (list, tuple)) else []

    @property
    def FAIL_LEVEL(self) -> str:
        return str(self.get("FAIL_LEVEL")).lower()

    @property
    def ENVIRONMENT_VARIABLE(self) -> str:
        """The variable naming the stage: see :func:`stage_variable`."""
        return stage_variable()

    @property
    def ENVIRONMENT(self) -> str | None:
        """The deploy stage: ``CICD["ENVIRONMENT"]``, else the variable :func:`stage_variable` names, else None."""
        value = self.get("ENVIRONMENT")
        if value:
            return str(value)
        return os.environ.get(stage_variable(), "").strip() or None

    @property
    def STATIC_CHECK(self) -> bool:
        return bool(self.get("STATIC_CHECK"))

    @property
    def SECRETS(self) -> Sequence[str]:
        value = self.get("SECRETS")
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    @property
    def MIGRATION_SAFETY(self) -> Mapping[str, Any]:
        value = self.get("MIGRATION_SAFETY")
        return value if isinstance(value, Mapping) else {}

    @property
    def SMALL_TABLE_ROWS(self) -> int:
        """``CICD["MIGRATION_SAFETY"]["SMALL_TABLE_ROWS"]``; an invalid value (django_cicd.E024) reads as 10,000."""
        value = self.MIGRATION_SAFETY.get("SMALL_TABLE_ROWS", MIGRATION_SAFETY_OPTIONS["SMALL_TABLE_ROWS"])
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            default: int = MIGRATION_SAFETY_OPTIONS["SMALL_TABLE_ROWS"]
            return default
        return value

    def _seconds(self, key: str) -> float | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            default: float | None = DEFAULTS[key]  # invalid values are reported by django_cicd.E006
            return default
        return float(value)

    @property
    def LOCK_WAIT(self) -> float:
        return self._seconds("LOCK_WAIT") or 0.0

    @property
    def LOCK_TIMEOUT(self) -> float | None:
        return self._seconds("LOCK_TIMEOUT")

    @property
    def STATEMENT_TIMEOUT(self) -> float | None:
        return self._seconds("STATEMENT_TIMEOUT")

    @property
    def LOCK_HEARTBEAT(self) -> float:
        return self._seconds("LOCK_HEARTBEAT") or float(DEFAULTS["LOCK_HEARTBEAT"])

    @property
    def PRODUCTION_ENVIRONMENTS(self) -> Sequence[str]:
        value = self.get("PRODUCTION_ENVIRONMENTS")
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else ["production"]

    @property
    def IMAGE_VARIABLE(self) -> str:
        return str(self.get("IMAGE_VARIABLE"))

    @property
    def DOCKER_TAG(self) -> str:
        return str(self.get("DOCKER_TAG"))

    @property
    def BACKUP_COMPRESS(self) -> bool:
        return self.get("BACKUP_COMPRESS") is True

    @property
    def BACKUP_ENCRYPT(self) -> bool:
        return self.get("BACKUP_ENCRYPT") is True

    @property
    def ENV_CONTRACT(self) -> str | None:
        value = self.get("ENV_CONTRACT")
        return str(value) if value else None

    @property
    def SENTRY_STAGES(self) -> Sequence[str]:
        value = self.get("SENTRY_STAGES")
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    @property
    def SENTRY_MONITORS(self) -> Mapping[str, str]:
        value = self.get("SENTRY_MONITORS")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}

    @property
    def SENTRY_FLUSH_TIMEOUT(self) -> float:
        value = self.get("SENTRY_FLUSH_TIMEOUT")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 5.0

    @property
    def LOG_FORMAT(self) -> str:
        value = self.get("LOG_FORMAT")
        return value if value in ("text", "json") else "text"  # another value: django_cicd.E050


cicd_settings = CicdSettings()


def stage_variable() -> str:
    """The one name of the environment variable that holds the stage, for the commands
    (``CICD["ENVIRONMENT"]`` unset), the env contract and Sentry:

    1. ``CICD["ENVIRONMENT_VARIABLE"]`` when the project sets it;
    2. else the env contract's ``stage_variable`` (``CICD["ENV_CONTRACT"]``, or the contract the
       settings loaded): the settings decide their stage by it, so the commands must too;
    3. else :data:`DEFAULT_STAGE_VARIABLE` (``DJANGO_ENV``), the contract's default as well.

    Before the settings are configured (inside the settings module, where ``init_sentry`` runs) only
    the contract the settings just loaded is known.
    """
    from django_cicd import env

    contract = None
    if settings.configured:
        explicit = cicd_settings.raw.get("ENVIRONMENT_VARIABLE")
        if isinstance(explicit, str) and explicit:
            return explicit
        try:
            contract = env.get_contract()
        except ImproperlyConfigured:  # a bad CICD["ENV_CONTRACT"]: django_cicd.E040 reports it
            contract = env.active_contract()
    else:
        contract = env.active_contract()
    return contract.stage_variable if contract is not None else DEFAULT_STAGE_VARIABLE


def is_production(environment: str | None) -> bool:
    """Whether ``environment`` is one of ``CICD["PRODUCTION_ENVIRONMENTS"]``, compared without regard to
    case or surrounding whitespace: ``Production`` is production. None (no stage known) is not."""
    if not environment or not environment.strip():
        return False
    wanted = environment.strip().casefold()
    return any(wanted == name.strip().casefold() for name in cicd_settings.PRODUCTION_ENVIRONMENTS)
