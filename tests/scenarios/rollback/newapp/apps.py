from django.apps import AppConfig


class NewAppConfig(AppConfig):
    name = "tests.scenarios.rollback.newapp"
    label = "rollback_newapp"
    default_auto_field = "django.db.models.BigAutoField"
