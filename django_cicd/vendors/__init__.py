"""One adapter per database vendor: the only place in django-cicd that knows a vendor's SQL.

``adapter(connection)`` (or ``adapter_for(alias)``) returns the :class:`~django_cicd.vendors.base.Vendor`
for a Django connection: PostgreSQL (PostGIS included), MySQL/MariaDB, SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_cicd.vendors.base import (
    Catalog,
    CatalogDiff,
    CatalogObject,
    HeldLock,
    LockLost,
    LockNotAcquired,
    LockWaitInterrupted,
    TableSize,
    Vendor,
    describe_holder,
    side_connection,
)
from django_cicd.vendors.mysql import MySQL
from django_cicd.vendors.postgresql import PostgreSQL
from django_cicd.vendors.sqlite import SQLite

__all__ = [
    "Catalog",
    "CatalogDiff",
    "CatalogObject",
    "HeldLock",
    "LockLost",
    "LockNotAcquired",
    "LockWaitInterrupted",
    "TableSize",
    "UnsupportedVendor",
    "Vendor",
    "adapter",
    "adapter_for",
    "describe_holder",
    "describe_identity",
    "side_connection",
]

_ADAPTERS: dict[str, Vendor] = {vendor.name: vendor for vendor in (PostgreSQL(), MySQL(), SQLite())}


class UnsupportedVendor(Exception):
    """A database backend none of the adapters knows (Oracle, a third-party backend)."""


def adapter(connection: BaseDatabaseWrapper) -> Vendor:
    try:
        return _ADAPTERS[connection.vendor]
    except KeyError:
        raise UnsupportedVendor(
            f"database {connection.alias!r} uses the {connection.vendor!r} backend; django-cicd supports "
            "PostgreSQL (and PostGIS), MySQL/MariaDB and SQLite"
        ) from None


def adapter_for(alias: str) -> Vendor:
    return adapter(connections[alias])


def describe_identity(identity: Mapping[str, str]) -> str:
    """A database identity (``Vendor.identity()``) in words, by the adapter that made it."""
    made_by = _ADAPTERS.get(identity.get("vendor", ""))
    if made_by is not None:
        return made_by.describe_identity(identity)
    return ", ".join(f"{key} {value}" for key, value in sorted(identity.items()))
