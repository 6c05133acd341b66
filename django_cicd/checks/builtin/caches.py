from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache

from django_cicd.checks.context import CheckContext
from django_cicd.checks.registry import register
from django_cicd.redaction import redact
from django_cicd.report import Finding, Severity


@register("cicd.cache.reachable", title="Each cache answers a write and a read", needs_database=True)
def cache_reachable(ctx: CheckContext) -> Iterator[Finding]:
    """Writes, reads back and deletes a key in every configured cache.

    Needs the network like a database does, so ``--no-db`` skips it too. The local-memory and dummy
    caches are noted: a process-local cache behind several workers is rarely what production wants.
    """
    for alias in caches:
        cache = caches[alias]
        key = f"django-cicd:predeploy:{uuid.uuid4().hex}"
        backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
        try:
            cache.set(key, "ok", timeout=30)
            value = cache.get(key)
            cache.delete(key)
        except Exception as exc:  # noqa: BLE001 (each cache client raises its own errors)
            yield Finding(
                message=redact(f"cache {alias!r} ({backend}) did not answer: {type(exc).__name__}: {exc}"),
                hint=f"Check CACHES[{alias!r}]['LOCATION'] and that the cache server is reachable.",
                code="cicd.cache.unreachable",
            )
            continue
        if isinstance(cache, DummyCache):
            yield Finding(
                message=f"cache {alias!r} is the dummy cache: nothing is cached",
                severity=Severity.INFO,
                code="cicd.cache.dummy",
            )
        elif value != "ok":
            yield Finding(
                message=f"cache {alias!r} ({backend}) accepted a write but returned {value!r} on read",
                hint="A full or misconfigured cache drops writes; check its memory limit and eviction policy.",
                code="cicd.cache.unreadable",
            )
