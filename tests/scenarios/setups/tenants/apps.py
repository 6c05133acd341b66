from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created

#: What a multi-tenant app runs on every new connection, per vendor.
STATEMENTS = {
    "postgresql": "SET search_path TO public",
    "mysql": "SET @tenant = 'demo'",
    "sqlite": "PRAGMA foreign_keys = ON",
}


def set_tenant(sender: Any, connection: Any, **kwargs: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(STATEMENTS[connection.vendor])
    log = os.environ.get("CICD_TEST_RECEIVER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{connection.alias}\n")


class TenantsConfig(AppConfig):
    name = "tests.scenarios.setups.tenants"
    label = "setups_tenants"

    def ready(self) -> None:
        connection_created.connect(set_tenant)
