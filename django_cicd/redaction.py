"""Keep secret values out of every output.

Every renderer and every command writes through :func:`redact`, which replaces each known secret
value with ``********``. The secrets are collected from settings (SECRET_KEY, database and cache
passwords and options, mailer passwords, storage options, any upper-case setting whose name says it
holds a secret, the Sentry DSN key), from environment variables whose names say they hold a secret,
from ``CICD["SECRETS"]``, and from providers registered by other modules (the environment contract
registers its secret variables).

Every form a secret takes once something has quoted or encoded it is masked too: shell-quoted (a
command line in an error message), URL-encoded (a DSN), JSON- and repr-escaped, XML entities, GitHub's
``%25``. Reports are masked field by field before they are encoded (:func:`redact_value`); the
encoded output is then masked again, as a backstop.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from django.conf import settings

MASK = "********"
#: Shorter values are not masked: replacing every "1" or "ab" in a report would make it unreadable.
#: Passwords shorter than this are too weak to protect anything and are not treated as secrets.
MIN_SECRET_LENGTH = 4
#: An environment variable is taken for a secret by its name alone only when its value looks like one:
#: at least this long and not a plain word, number or boolean (``PRIVATE_REGISTRY=false`` is not).
MIN_NAMED_SECRET_LENGTH = 8
#: ``AUTH`` only at the end of a name (PROXY_AUTH, BASIC_AUTH hold credentials): AUTH_USER_MODEL or
#: SOCIAL_AUTH_PIPELINE do not, and masking "auth.User" hid model names in every report.
SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|(^|_)PASS($|_)|_PWD$|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|DSN"
    r"|(^|_)AUTH$|_KEY$)",
    re.I,
)
_PLAIN_WORD = re.compile(r"^([A-Za-z]+|[0-9.]+)$")

_providers: list[Callable[[], Iterable[str]]] = []


def register_secret_provider(provider: Callable[[], Iterable[str]]) -> Callable[[], Iterable[str]]:
    """Register a callable returning secret values to mask (used by :mod:`django_cicd.env`)."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def _url_secrets(value: str) -> Iterable[str]:
    """The password (and the Sentry public key, which sits in the user part) of a URL."""
    if "://" not in value:
        return
    try:
        parts = urlsplit(value)
    except ValueError:
        return
    if parts.password:
        yield parts.password
        yield unquote(parts.password)
    if parts.username and parts.scheme in {"http", "https"} and parts.path.strip("/").isdigit():
        yield parts.username  # a Sentry DSN: https://<public key>@host/<project id>


def _named_values(mapping: Mapping[str, Any]) -> Iterable[str]:
    """Values of a settings mapping (OPTIONS, a settings module) whose keys say they are secret."""
    for key, value in mapping.items():
        if isinstance(value, str):
            if SECRET_NAME.search(str(key)):
                yield value
            yield from _url_secrets(value)


def _settings_secrets() -> Iterable[str]:
    yield str(getattr(settings, "SECRET_KEY", "") or "")
    yield from (str(v) for v in getattr(settings, "SECRET_KEY_FALLBACKS", []) or [])
    yield from _mail_secrets()
    for db in getattr(settings, "DATABASES", {}).values():
        yield str(db.get("PASSWORD") or "")
        yield from _named_values(db.get("OPTIONS") or {})
    for cache in getattr(settings, "CACHES", {}).values():
        locations = cache.get("LOCATION") or []
        for location in [locations] if isinstance(locations, str) else locations:
            yield from _url_secrets(str(location))
        yield from _named_values(cache.get("OPTIONS") or {})
    for storage in (getattr(settings, "STORAGES", {}) or {}).values():
        if isinstance(storage, Mapping):
            yield from _named_values(storage.get("OPTIONS") or {})
    # django-dbbackup's per-alias connector settings may carry PASSWORD / ADMIN_PASSWORD of their own.
    for connector in (getattr(settings, "DBBACKUP_CONNECTORS", {}) or {}).values():
        if isinstance(connector, Mapping):
            yield from _named_values(connector)
    # Every upper-case setting whose name says it is a secret (STRIPE_API_KEY, SENTRY_DSN, ...).
    # EMAIL_* are read by _mail_secrets, without Django 6.1's deprecation warning.
    names = [name for name in dir(settings) if name.isupper() and not name.startswith("EMAIL_")]
    yield from _named_values({name: getattr(settings, name, None) for name in names})
    cicd = getattr(settings, "CICD", {})
    extra = cicd.get("SECRETS", []) if isinstance(cicd, Mapping) else []
    for name in extra if isinstance(extra, (list, tuple)) else []:
        name = str(name)
        if hasattr(settings, name):
            yield str(getattr(settings, name) or "")
        if name in os.environ:
            yield os.environ[name]


def _mail_secrets() -> Iterable[str]:
    mailers = getattr(settings, "MAILERS", None)  # Django 6.1+
    if isinstance(mailers, Mapping):
        for mailer in mailers.values():
            if isinstance(mailer, Mapping):
                yield from _named_values(mailer.get("OPTIONS") or {})
        return
    with warnings.catch_warnings():
        # Django 6.1 deprecates the EMAIL_* settings and warns on every read; the password must still
        # be masked for projects that have not moved to MAILERS yet.
        warnings.filterwarnings("ignore", message="The EMAIL_HOST_PASSWORD setting is deprecated")
        value = getattr(settings, "EMAIL_HOST_PASSWORD", "")
    yield str(value or "")


def _looks_secret(value: str) -> bool:
    return len(value) >= MIN_NAMED_SECRET_LENGTH and not _PLAIN_WORD.match(value)


def _environment_secrets() -> Iterable[str]:
    for name, value in os.environ.items():
        # PWD and OLDPWD are the shell's working directories, XAUTHORITY a file path: not secrets.
        if SECRET_NAME.search(name) and _looks_secret(value.strip()):
            yield value
        if "://" in value:
            yield from _url_secrets(value)


def secret_values() -> list[str]:
    """Every secret value known now, longest first (so a secret containing another is masked whole)."""
    found: set[str] = set()
    sources: list[Callable[[], Iterable[str]]] = [_settings_secrets, _environment_secrets, *_providers]
    for source in sources:
        try:
            values = list(source())
        except Exception:  # noqa: BLE001, S112 (broken settings: mask what the other sources know)
            continue
        for value in values:
            for candidate in (value, value.strip()):
                if len(candidate) >= MIN_SECRET_LENGTH:
                    found.add(candidate)
    return sorted(found, key=len, reverse=True)


_SHELL_SPECIAL = re.compile(r"([^A-Za-z0-9_./,:@%+=-])")


def _encoded_forms(secret: str) -> set[str]:
    """How a secret looks once something has quoted or encoded it: a shell command line (``shlex.quote``,
    backslash escapes), a URL (percent-encoding, ``+`` for spaces), JSON, Python's repr, XML, GitHub
    workflow commands, Markdown tables."""
    # Imported here: xml.sax.saxutils imports urllib.request, http.client and email, which settings
    # modules (that import this module through django_cicd.env) would otherwise pay for.
    from xml.sax.saxutils import escape as xml_escape

    forms = {
        secret,
        shlex.quote(secret),
        _SHELL_SPECIAL.sub(r"\\\1", secret),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        xml_escape(secret),
        xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
        xml_escape(secret, {'"': "&quot;", "'": "&#x27;"}),
        secret.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"),
        secret.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C"),
        secret.replace("|", "\\|"),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _all_forms(secrets: Iterable[str]) -> list[str]:
    """Every form of every secret, longest first (so a form containing another is masked whole)."""
    return list(_forms_of(tuple(secrets)))


@functools.lru_cache(maxsize=16)
def _forms_of(secrets: tuple[str, ...]) -> tuple[str, ...]:
    # Cached: reports mask field by field, each with the same secrets.
    return tuple(sorted({form for secret in secrets for form in _encoded_forms(secret)}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """Return ``text`` with every secret value (and its quoted and encoded forms) replaced by ``********``."""
    return _mask(text, _all_forms(secret_values() if secrets is None else secrets))


def _mask(text: str, forms: list[str]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact_value(value: Any, secrets: list[str] | None = None) -> Any:
    """Mask secrets (and their quoted and encoded forms) in every string inside ``value`` (str, list,
    tuple, dict), before any encoding."""
    return _redact_value(value, _all_forms(secret_values() if secrets is None else secrets))


def _redact_value(value: Any, forms: list[str]) -> Any:
    if isinstance(value, str):
        return _mask(value, forms)
    if isinstance(value, Mapping):
        return {key: _redact_value(item, forms) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(item, forms) for item in value)
    return value
