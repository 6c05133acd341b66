"""Backups know the database they were taken of: a restore into another database is refused unless
asked for, and a backup whose metadata cannot be read is not restored at all.

The aliases "default" and "other" are two databases of the same server (two files on SQLite) that
share one backup directory, as two environments on one host do; "other" plays the clone.
"""

from __future__ import annotations

import json

import pytest
from django.db import connections

from django_cicd import backups, vendors
from tests.scenarios.migrate.helpers import snapshot

#: The tests that touch the databases (both aliases, emptied after each test).
with_databases = pytest.mark.django_db(databases="__all__", transaction=True)

STATE = {"catalog": "0005_remove_product_legacy_code"}


def _product(name: str, alias: str = "default") -> None:
    from testproject.catalog.models import Product

    Product.objects.using(alias).create(name=name, slug=name.lower(), price="9.99")


def _names(alias: str) -> list[str]:
    from testproject.catalog.models import Product

    return sorted(Product.objects.using(alias).values_list("name", flat=True))


@pytest.fixture
def backup_of_default():
    _product("Lamp")
    taken = backups.take_backup("default", release="v1", state=STATE)
    yield taken
    backups.discard(backups.storage(), taken.name)


def _write_metadata(name: str, content: bytes) -> None:
    with open(backups.storage().path(f"{name}.metadata"), "wb") as handle:
        handle.write(content)


@with_databases
def test_the_backup_records_the_identity_of_its_database(backup_of_default):
    connection = connections["default"]
    identity = vendors.adapter(connection).identity(connection)
    assert identity["database"]  # the adapter knows which database this is
    assert backup_of_default.identity == identity
    assert backup_of_default.as_dict()["identity"] == identity
    assert backups.read_metadata(backup_of_default.name)["identity"] == identity


@with_databases
def test_a_restore_into_another_database_is_refused_naming_both(backup_of_default):
    _product("Chair", "other")
    before = snapshot("other")
    source = backup_of_default.identity["database"]
    target = vendors.adapter(connections["other"]).identity(connections["other"])["database"]
    assert source != target
    with pytest.raises(backups.BackupError) as caught:
        backups.restore_backup(backup_of_default.name, "other", expected_sha256=backup_of_default.sha256)
    message = str(caught.value)
    assert type(caught.value).__name__ == "OtherDatabaseBackup"
    assert message.startswith(f"refusing to restore {backup_of_default.name} into database 'other': ")
    assert source in message and target in message
    assert "--restore-into-other-database" in message
    assert snapshot("other") == before
    assert _names("other") == ["Chair"]


@with_databases
def test_a_restore_into_another_database_when_allowed(backup_of_default):
    expected = snapshot("default")
    _product("Chair", "other")
    backups.restore_backup(
        backup_of_default.name, "other", expected_sha256=backup_of_default.sha256, allow_other_database=True
    )
    assert _names("other") == ["Lamp"]
    assert snapshot("other") == expected


@with_databases
def test_the_same_database_is_restored_without_the_option(backup_of_default):
    expected = snapshot("default")
    _product("Chair")
    notes = backups.restore_backup(backup_of_default.name, "default", expected_sha256=backup_of_default.sha256)
    assert notes == []
    assert snapshot("default") == expected


@with_databases
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"engine": "x", "django_cicd": {"identity": ', "is not valid JSON"),
        (b"\xff\xfe not even text", "is not valid JSON"),
        (b'{"engine": "x", "django_cicd": ["not", "an", "object"]}', "its 'django_cicd' part is not a JSON object"),
        (b'["a", "list"]', "is not a JSON object"),
    ],
)
def test_unreadable_metadata_refuses_the_restore(backup_of_default, content, problem):
    _product("Chair")
    before = snapshot("default")
    _write_metadata(backup_of_default.name, content)
    with pytest.raises(backups.BackupError) as caught:
        backups.restore_backup(backup_of_default.name, "default", expected_sha256=backup_of_default.sha256)
    message = str(caught.value)
    assert type(caught.value).__name__ == "UnreadableMetadata"
    assert message.startswith(f"refusing to restore {backup_of_default.name}: its metadata file ")
    assert problem in message
    assert snapshot("default") == before
    with pytest.raises(backups.BackupError) as caught:
        backups.read_metadata(backup_of_default.name)
    assert problem in str(caught.value)


@with_databases
def test_a_backup_without_metadata_is_restored_and_says_it_was_not_checked(backup_of_default):
    """Backups taken before django-cicd recorded metadata have none: allowed, with a note."""
    expected = snapshot("default")
    backups.storage().delete(f"{backup_of_default.name}.metadata")
    assert backups.read_metadata(backup_of_default.name) == {}
    _product("Chair")
    notes = backups.restore_backup(backup_of_default.name, "default", expected_sha256=backup_of_default.sha256)
    assert snapshot("default") == expected
    assert notes == [
        f"the backup {backup_of_default.name} has no metadata file (taken before django-cicd recorded one), "
        "so it could not be checked that it is a backup of database 'default'"
    ]


@with_databases
def test_metadata_without_an_identity_is_restored_and_says_so(backup_of_default):
    """A backup taken by an older django-cicd has our metadata part but no identity in it."""
    path = backups.storage().path(f"{backup_of_default.name}.metadata")
    with open(path, "rb") as handle:
        metadata = json.load(handle)
    del metadata["django_cicd"]["identity"]
    _write_metadata(backup_of_default.name, json.dumps(metadata).encode())
    notes = backups.restore_backup(backup_of_default.name, "default", expected_sha256=backup_of_default.sha256)
    assert notes == [
        f"the backup {backup_of_default.name} does not record which database it was taken of (taken before "
        "django-cicd recorded it), so it could not be checked that it is a backup of database 'default'"
    ]


@pytest.mark.parametrize(
    ("recorded", "current", "same"),
    [
        # A PostgreSQL role that may not run pg_control_system() records no system identifier.
        (
            {"vendor": "postgresql", "system_identifier": "", "database": "shop"},
            {"vendor": "postgresql", "system_identifier": "7291", "database": "shop"},
            True,
        ),
        (
            {"vendor": "postgresql", "system_identifier": "7291", "database": "shop"},
            {"vendor": "postgresql", "system_identifier": "8310", "database": "shop"},
            False,
        ),
        (
            {"vendor": "mysql", "server_uid": "a", "database": "shop"},
            {"vendor": "mysql", "server_uid": "a", "database": "shop_staging"},
            False,
        ),
        ({"vendor": "sqlite", "database": "/srv/a.sqlite3"}, {"vendor": "sqlite", "database": "/srv/a.sqlite3"}, True),
        ({"vendor": "sqlite", "database": ""}, {"vendor": "sqlite", "database": ""}, False),
    ],
)
def test_same_database(recorded, current, same):
    assert backups.same_database(recorded, current) is same
