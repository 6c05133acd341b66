"""Backups in object storage: STORAGES["dbbackup"] on django-storages' S3 backend, against a real
S3-compatible server (moto's server mode) on 127.0.0.1: safe_migrate's backup, --verify-restore,
--rehearse and rollback_release --restore-backup; streamed, checked on read-back, private; a bucket
that refuses writes and a network cut in the middle of the upload leave nothing recorded as a backup."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tracemalloc
import uuid

import pytest

from django_cicd import backups
from django_cicd.models import Release
from tests.scenarios.migrate.helpers import scenario, snapshot
from tests.scenarios.rollback.helpers import code, reset
from tests.utils import need, run_command

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

SECRET = "planted-s3-secret-Qx7vM2kL9pR4tZ8w"
ACCESS_KEY = "AKIAPLANTEDKEY7Q2X"
PUBLIC = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}


@pytest.fixture(scope="session")
def endpoint():
    need(importlib.util.find_spec("moto") is not None, "moto is not installed: pip install -r requirements/test.txt")
    from tests.s3_server import moto_server

    with moto_server() as url:
        yield url


def _client(endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def s3(endpoint, settings, monkeypatch):
    """A fresh private bucket as STORAGES["dbbackup"], credentials from the environment (as documented)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a cut network fails at once, not after botocore's backoff
    bucket = f"backups-{uuid.uuid4().hex[:12]}"
    client = _client(endpoint)
    client.create_bucket(Bucket=bucket)

    def use(url=endpoint, bucket_name=bucket, **options):
        settings.STORAGES = {
            **settings.STORAGES,
            "dbbackup": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": bucket_name,
                    "endpoint_url": url,
                    "region_name": "us-east-1",
                    "default_acl": "private",
                    **options,
                },
            },
        }

    use()
    s3.client, s3.bucket, s3.use = client, bucket, use
    yield s3
    reset()


def _keys(s3):
    return sorted(o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket).get("Contents", []))


def _product(name="Lamp"):
    from testproject.catalog.models import Product

    return Product.objects.create(name=name, slug=name.lower(), price="9.99")


def _assert_private(s3, key):
    grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"]
    assert grants, key
    assert not [g for g in grants if g["Grantee"].get("URI") in PUBLIC], grants


def test_backup_is_in_the_bucket_private_checksummed_and_restores(s3):
    _product("Desk")
    before = snapshot()
    info = backups.take_backup("default", release="v1", state={"catalog": "0005_remove_product_legacy_code"})
    assert _keys(s3) == [info.name, f"{info.name}.metadata"]
    body = s3.client.get_object(Bucket=s3.bucket, Key=info.name)["Body"].read()
    assert (hashlib.sha256(body).hexdigest(), len(body)) == (info.sha256, info.size)
    for key in _keys(s3):
        _assert_private(s3, key)
    assert f"bucket '{s3.bucket}'" in info.storage
    metadata = json.loads(s3.client.get_object(Bucket=s3.bucket, Key=f"{info.name}.metadata")["Body"].read())
    assert metadata["django_cicd"]["sha256"] == info.sha256
    backups.verify_backup(info)

    _product("Chair")
    assert snapshot() != before
    backups.restore_backup(info.name, "default", expected_sha256=info.sha256)
    assert snapshot() == before


def test_a_changed_object_is_neither_verified_nor_restored(s3):
    _product()
    info = backups.take_backup("default", release="v1", state={})
    body = bytearray(s3.client.get_object(Bucket=s3.bucket, Key=info.name)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.client.put_object(Bucket=s3.bucket, Key=info.name, Body=bytes(body))
    with pytest.raises(backups.BackupError, match="does not match what was written"):
        backups.verify_backup(info)
    before = snapshot()
    with pytest.raises(backups.BackupError, match="the file changed since it was taken"):
        backups.restore_backup(info.name, "default", expected_sha256=info.sha256)
    assert snapshot() == before


def test_read_back_streams_instead_of_loading_the_object(s3):
    """django-storages' S3File reads a whole object into memory (AWS_S3_MAX_MEMORY_SIZE defaults to 0, no
    limit); the sha256 read-back and the restore's local copy must not: the copy keeps at most
    DBBACKUP_TMP_FILE_MAX_SIZE (10 MB) in memory, then goes to disk."""
    from dbbackup import settings as dbbackup_settings

    size = 48 * 1024 * 1024
    name = "cicd-default-big-20260101-000000-abcdef.bin"
    s3.client.put_object(Bucket=s3.bucket, Key=name, Body=b"\x5a" * size)
    expected = hashlib.sha256(b"\x5a" * size).hexdigest()
    s3.client.put_object(Bucket=s3.bucket, Key="warm-up", Body=b"1")
    backups.sha256_of("warm-up")  # boto3's client and S3's service model loaded before measuring
    tracemalloc.start()
    try:
        assert backups.sha256_of(name) == (expected, size)
        _, peak_read = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with backups.verified_copy(backups.storage(), name, expected) as copy:
            assert copy.seek(0, 2) == size
        _, peak_copy = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_read < 4 * backups.CHUNK, peak_read
    assert peak_copy < dbbackup_settings.TMP_FILE_MAX_SIZE * 1.5 + 4 * backups.CHUNK < size / 2, peak_copy


def test_safe_migrate_with_verify_restore_then_rollback_restores_from_the_bucket(s3):
    _product("Desk Lamp")
    with code():
        stdout, stderr, exit_code = run_command("safe_migrate", "--release", "r1", "--format", "json")
    assert exit_code == 0, stderr
    before = snapshot()
    with code(catalog="catalog_irreversible"):
        stdout, stderr, exit_code = run_command(
            "safe_migrate", "--release", "r2", "--verify-restore", "--format", "json"
        )
    assert exit_code == 0, stderr
    document = json.loads(stdout)
    assert any(n.startswith("--verify-restore: ") for n in document["notes"])
    name = document["backup"]["name"]
    assert name in _keys(s3) and f"bucket '{s3.bucket}'" in document["backup"]["storage"]
    _assert_private(s3, name)
    assert Release.objects.get(name="r2").backup_sha256 == document["backup"]["sha256"]

    with code(catalog="catalog_irreversible"):
        stdout, stderr, exit_code = run_command("rollback_release", "--restore-backup", "--noinput", "--format", "json")
    assert exit_code == 0, stdout + stderr
    assert json.loads(stdout)["status"] == "rolled_back"
    assert snapshot() == before
    assert SECRET not in stdout + stderr and ACCESS_KEY not in stdout + stderr


@pytest.mark.slow
def test_rehearsal_with_the_bucket_leaves_the_target_and_the_bucket_as_they_were(s3):
    with scenario("catalog_next"):
        before = snapshot()
        stdout, stderr, exit_code = run_command("safe_migrate", "--rehearse", "--format", "json")
    assert exit_code == 0, stderr
    assert json.loads(stdout)["ok"]
    assert snapshot() == before
    assert _keys(s3) == []  # a fresh backup taken only to make the scratch copy (MariaDB) is deleted


def _refused_run(s3):
    with scenario("catalog_next"):
        before = snapshot()
        stdout, stderr, exit_code = run_command("safe_migrate", "--release", "refused")
        assert snapshot() == before
    assert exit_code == 2, stdout + stderr
    assert stderr.rstrip().endswith("nothing was changed")
    assert SECRET not in stdout + stderr and ACCESS_KEY not in stdout + stderr
    assert not Release.objects.filter(name="refused").exclude(backup_name="").exists()
    assert not Release.objects.filter(name="refused", status=Release.Status.SUCCEEDED).exists()
    return stderr


def test_a_bucket_that_refuses_writes(s3):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{s3.bucket}/*"}
        ],
    }
    s3.client.put_bucket_policy(Bucket=s3.bucket, Policy=json.dumps(policy))
    stderr = _refused_run(s3)
    assert f"the backup of database 'default' into S3 bucket '{s3.bucket}'" in stderr
    assert "(403)" in stderr or "AccessDenied" in stderr
    assert f"check that bucket '{s3.bucket}' exists and that these credentials may s3:PutObject" in stderr
    assert _keys(s3) == []


def test_a_missing_bucket(s3):
    s3.use(bucket_name="no-such-bucket-here")
    stderr = _refused_run(s3)
    assert "NoSuchBucket" in stderr
    assert "check that bucket 'no-such-bucket-here' exists" in stderr


def test_a_public_acl_is_refused_before_anything_is_uploaded(s3):
    s3.use(default_acl="public-read")
    stderr = _refused_run(s3)
    assert (
        "STORAGES['dbbackup'] makes backups public (ACL 'public-read'): a backup holds every row of the "
        "database; set OPTIONS['default_acl'] to 'private' (or leave it unset on a bucket without ACLs)"
    ) in stderr
    assert _keys(s3) == []


def test_a_network_cut_in_the_middle_of_the_upload(s3):
    from testproject.catalog.models import Product
    from tests.s3_server import CuttingProxy

    Product.objects.bulk_create(  # a dump of tens of kB, so that the cut falls well inside it
        Product(name=uuid.uuid4().hex * 4, slug=f"p{index}", price="1.00") for index in range(400)
    )
    host, port = s3.client.meta.endpoint_url.removeprefix("http://").split(":")
    proxy = CuttingProxy((host, int(port)))
    try:
        s3.use(url=proxy.url)
        stderr = _refused_run(s3)
    finally:
        proxy.close()
    assert proxy.cut.is_set()  # the upload began and was cut, not refused before it started
    assert "the backup of database 'default' into S3 bucket" in stderr
    assert "and the network to" in stderr
    assert _keys(s3) == []  # seen directly, not through the proxy
