"""Settings that fail to import, as a missing environment variable makes them fail."""

import os

from django.core.exceptions import ImproperlyConfigured

# The message echoes a secret from the environment, as careless settings code does: the entry point
# must mask it (API_TOKEN is a secret by its name).
raise ImproperlyConfigured(f"Set DATABASE_URL (API_TOKEN is {os.environ.get('API_TOKEN', '')!r})")
