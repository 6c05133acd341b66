from django.apps import AppConfig


class SyncdbAppConfig(AppConfig):
    name = "tests.scenarios.migrate.syncdb_app"
    label = "syncdb_app"
    default_auto_field = "django.db.models.BigAutoField"
