"""Adds a table, then fails with an error that quotes secrets: the logs must mask them."""

import os

from django.conf import settings
from django.db import migrations, models


def fail_quoting_secrets(apps, schema_editor):
    password = schema_editor.connection.settings_dict.get("PASSWORD") or "no-password"
    token = os.environ.get("DEPLOY_API_TOKEN", "no-token")
    raise RuntimeError(f"cannot reach the search service with {token} ({settings.SECRET_KEY}, {password})")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_review")]

    operations = [
        migrations.CreateModel("Warehouse", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]),
        migrations.RunPython(fail_quoting_secrets, migrations.RunPython.noop),
    ]
