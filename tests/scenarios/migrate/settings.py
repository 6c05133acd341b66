"""tests.settings for subprocesses of the safe_migrate tests: the scenario and the storage come from
the environment, because a subprocess cannot receive override_settings."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import STORAGES

if os.environ.get("CICD_TEST_CATALOG"):
    # A package of tests.scenarios.migrate by its name, or any package by its dotted path.
    _catalog = os.environ["CICD_TEST_CATALOG"]
    MIGRATION_MODULES = {"catalog": _catalog if "." in _catalog else f"tests.scenarios.migrate.{_catalog}"}
if os.environ.get("CICD_TEST_STORAGE"):
    STORAGES = {**STORAGES, "dbbackup": {**STORAGES["dbbackup"], "BACKEND": os.environ["CICD_TEST_STORAGE"]}}
if os.environ.get("CICD_TEST_S3_BUCKET"):
    # Backups in an S3-compatible server (benchmarks/bench_s3_backup.py); credentials from the environment.
    STORAGES = {
        **STORAGES,
        "dbbackup": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": os.environ["CICD_TEST_S3_BUCKET"],
                "endpoint_url": os.environ["CICD_TEST_S3_ENDPOINT"],
                "region_name": "us-east-1",
                "default_acl": "private",
            },
        },
    }
    if os.environ.get("CICD_TEST_S3_MAX_CONCURRENCY"):
        from boto3.s3.transfer import TransferConfig

        _transfer = TransferConfig(max_concurrency=int(os.environ["CICD_TEST_S3_MAX_CONCURRENCY"]))
        # s3transfer's own setting (boto3's constructor does not take it): parts read ahead into memory.
        _transfer.max_in_memory_upload_chunks = _transfer.max_request_concurrency
        STORAGES["dbbackup"]["OPTIONS"]["transfer_config"] = _transfer
