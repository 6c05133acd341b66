from __future__ import annotations

from django.apps import AppConfig


class DjangoCicdConfig(AppConfig):
    name = "django_cicd"
    verbose_name = "CI/CD"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the system checks that validate settings.CICD and the built-in predeploy checks.
        from django_cicd import system_checks  # noqa: F401
        from django_cicd.checks import builtin  # noqa: F401
