"""django_cicd.backups: backups through django-dbbackup, checked, owner-only, restorable."""

from __future__ import annotations

import json
import os
import stat

import pytest
from django.db import connections

from django_cicd import backups
from django_cicd.models import Release
from tests.scenarios.migrate.helpers import snapshot

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

STATE = {"catalog": "0005_remove_product_legacy_code"}


def _product(name="Lamp"):
    from testproject.catalog.models import Product

    return Product.objects.create(name=name, slug=name.lower(), price="9.99")


@pytest.fixture
def info():
    _product()
    taken = backups.take_backup("default", release="v1", state=STATE)
    yield taken
    backend = backups.storage()
    for name in (taken.name, f"{taken.name}.metadata"):
        if backend.exists(name):
            backend.delete(name)


def test_backup_is_named_by_us_checksummed_and_owner_only(info):
    backend = backups.storage()
    assert info.name.startswith("cicd-default-v1-")
    assert info.size > 0 and len(info.sha256) == 64 and info.release == "v1" and info.state == STATE
    for name in (info.name, f"{info.name}.metadata"):
        assert stat.S_IMODE(os.stat(backend.path(name)).st_mode) == 0o600


def test_metadata_holds_dbbackup_fields_and_ours(info):
    with backups.storage().open(f"{info.name}.metadata", "rb") as handle:
        metadata = json.load(handle)
    assert metadata["engine"] == connections["default"].settings_dict["ENGINE"]
    assert metadata["django_cicd"]["sha256"] == info.sha256
    assert metadata["django_cicd"]["state"] == STATE
    assert backups.read_metadata(info.name)["release"] == "v1"


def test_verify_passes_then_detects_a_changed_file(info):
    backups.verify_backup(info)
    with open(backups.storage().path(info.name), "ab") as handle:
        handle.write(b"x")
    with pytest.raises(backups.BackupError, match=r"does not match what was written"):
        backups.verify_backup(info)


def test_restore_brings_back_rows_and_schema(info):
    before = snapshot()
    from testproject.catalog.models import Product

    Product.objects.all().delete()
    _product("Chair")
    assert snapshot() != before
    backups.restore_backup(info.name, "default", expected_sha256=info.sha256)
    assert snapshot() == before


def test_restore_refuses_a_file_whose_sha256_differs(info):
    with pytest.raises(backups.BackupError) as caught:
        backups.restore_backup(info.name, "default", expected_sha256="0" * 64)
    assert str(caught.value) == (
        f"refusing to restore {info.name}: its sha256 is {info.sha256[:12]}..., the ledger recorded "
        "000000000000...; the file changed since it was taken"
    )


def test_a_full_disk_is_a_backup_error_and_leaves_no_file(settings, tmp_path):
    """A real full disk cannot be made safely on a shared machine: a storage raising ENOSPC stands in."""
    settings.STORAGES = {
        **settings.STORAGES,
        "dbbackup": {
            "BACKEND": "tests.scenarios.migrate.storages.FullDiskStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    with pytest.raises(backups.BackupError) as caught:
        backups.take_backup("default", release="v1", state=STATE)
    assert "No space left on device" in str(caught.value)
    assert str(caught.value).startswith("the backup of database 'default' into ")
    assert os.listdir(tmp_path) == []


def test_no_storage_configured(settings):
    settings.STORAGES = {k: v for k, v in settings.STORAGES.items() if k != "dbbackup"}
    with pytest.raises(backups.BackupNotReady, match=r"STORAGES\['dbbackup'\] is not configured"):
        backups.take_backup("default", release="v1", state=STATE)


def test_backup_of_the_other_alias(info):
    other = backups.take_backup("other", release="v1", state={})
    assert other.name.startswith("cicd-other-v1-")
    assert Release.objects.using("other").count() == 0
