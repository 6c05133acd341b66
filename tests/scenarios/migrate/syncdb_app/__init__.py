"""An app without migrations: migrate --run-syncdb (and safe_migrate --run-syncdb) create its table."""
