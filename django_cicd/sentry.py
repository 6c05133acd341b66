"""Sentry wiring on sentry-sdk: init for settings, release detection, deploy check-ins, scrubbing.

In the settings, after the environment contract::

    from django_cicd.sentry import init_sentry
    init_sentry(E, base_dir=BASE_DIR)   # does nothing (imports nothing) without SENTRY_DSN

- The environment is the stage (the contract's, else the stage variable :func:`django_cicd.conf.stage_variable`
  names), never sentry-sdk's silent ``"production"``.
- The release is the one the ledger records: :func:`django_cicd.release.detect_release` (SENTRY_RELEASE,
  the CI and platform variables, then a ``REVISION`` file baked into the image).
- Every event passes through a ``before_send`` that masks every known secret value.
- ``safe_migrate`` and ``rollback_release`` report each run as a cron check-in (in progress, then ok
  or error) and each failure as an event, flushed before the command exits (:mod:`django_cicd.hooks`).

sentry-sdk is an optional dependency (``pip install 'django-cicd[sentry]'``), imported only when a
DSN is set, through :func:`django_cicd.extras.require`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from django_cicd import env as env_module
from django_cicd.conf import stage_variable
from django_cicd.extras import require
from django_cicd.redaction import redact, secret_values
from django_cicd.release import InvalidReleaseName, detect_release

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope

logger = logging.getLogger("django_cicd")

UNKNOWN_ENVIRONMENT = "unknown"
CI_ENVIRONMENT = "ci"

#: The variables init_sentry reads; add them to the project's contract to list and check them there.
VARIABLES = (
    env_module.Var(
        "SENTRY_DSN",
        secret=True,
        help="The Sentry DSN; empty turns Sentry off.",
        example="https://<key>@o0.ingest.sentry.io/0",
    ),
    env_module.Var("SENTRY_ENVIRONMENT", help="Sentry's environment, when it must differ from the stage."),
    env_module.Var("SENTRY_RELEASE", help="The release; default: the CI commit variables, then a REVISION file."),
    env_module.Var("SENTRY_SAMPLE_RATE", float, default=1.0, help="Share of error events sent (0 to 1)."),
    env_module.Var("SENTRY_TRACES_SAMPLE_RATE", float, default=0.0, help="Share of transactions traced (0 to 1)."),
    env_module.Var("SENTRY_PROFILES_SAMPLE_RATE", float, default=0.0, help="Share of traces profiled (0 to 1)."),
)
_SENTRY_CONTRACT = env_module.Contract(*VARIABLES)
_RATE_OPTIONS = {
    "SENTRY_SAMPLE_RATE": "sample_rate",
    "SENTRY_TRACES_SAMPLE_RATE": "traces_sample_rate",
    "SENTRY_PROFILES_SAMPLE_RATE": "profiles_sample_rate",
}


@dataclass(frozen=True)
class SentrySetup:
    """What init_sentry decided, and why: each value with where it came from."""

    dsn: str | None = field(repr=False)
    environment: str
    environment_source: str  # argument, SENTRY_ENVIRONMENT, stage, the stage variable's name, CI, fallback
    release: str | None
    release_source: str | None  # argument, a variable name, or the REVISION file path (see django_cicd.release)
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.dsn)

    @property
    def dsn_host(self) -> str | None:
        """The DSN without its key (safe to print)."""
        if not self.dsn:
            return None
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.dsn)
            return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        except ValueError:
            return None


_state: dict[str, Any] = {"setup": None, "arguments": {}}


def init_arguments() -> dict[str, Any]:
    """The arguments init_sentry() was given that shape the setup (for predeploy and sentry_check)."""
    return {k: v for k, v in _state["arguments"].items() if v is not None}


def current_setup() -> SentrySetup | None:
    """The setup of the last init_sentry() call in this process, or None."""
    setup: SentrySetup | None = _state["setup"]
    return setup


# -- release and environment -----------------------------------------------------------------------


def _running_in_ci(environ: Mapping[str, str]) -> bool:
    return (environ.get("CI") or "").strip().lower() in {"1", "true", "yes"}


def resolve_setup(
    values: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stage: str | None = None,
    dsn: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> SentrySetup:
    """Decide DSN, environment, release and sample rates without touching sentry-sdk.

    ``values`` is the project's :class:`~django_cicd.env.EnvValues` (with :data:`VARIABLES` in its
    contract); without it the SENTRY_* variables are read from ``environ`` through the same rules.
    Raises :class:`~django_cicd.env.ContractError` for an invalid sample rate.
    """
    source = os.environ if environ is None else environ
    if values is None or not all(var.name in values for var in VARIABLES):
        reading = _SENTRY_CONTRACT.read(source, stage=_SENTRY_CONTRACT.stages[0], build=False)
        if reading.problems:
            raise env_module.ContractError(reading.error_message(), reading.problems)
        read: Mapping[str, Any] = reading.values()
    else:
        read = values
    options: dict[str, Any] = {}
    for name, option in _RATE_OPTIONS.items():
        rate = read[name]
        if rate is not None and not 0 <= rate <= 1:
            problem = env_module.Problem(name, "invalid", f"{name} is invalid: {rate!r} is not between 0 and 1")
            raise env_module.ContractError(f"The Sentry settings are invalid:\n  - {problem}", [problem])
        if rate is not None:
            options[option] = rate

    dsn = dsn if dsn is not None else read["SENTRY_DSN"]
    stage = stage or (getattr(values, "stage", None) if values is not None else None)
    if environment:
        env_name, env_source = environment, "argument"
    elif read["SENTRY_ENVIRONMENT"]:
        env_name, env_source = read["SENTRY_ENVIRONMENT"], "SENTRY_ENVIRONMENT"
    elif stage:
        env_name, env_source = stage, "stage"
    elif (source.get(stage_name := stage_variable()) or "").strip():
        env_name, env_source = source[stage_name].strip(), stage_name
    elif _running_in_ci(source):
        env_name, env_source = CI_ENVIRONMENT, "CI"
    else:
        env_name, env_source = UNKNOWN_ENVIRONMENT, "fallback"

    try:
        found_release, release_source = detect_release(release, environ=source, base_dir=base_dir)
    except InvalidReleaseName as exc:
        raise ImproperlyConfigured(f"init_sentry(release=...): {exc}.") from None
    return SentrySetup(
        dsn=dsn or None,
        environment=env_name,
        environment_source=env_source,
        release=found_release,
        release_source=release_source or None,
        options=options,
    )


# -- init -----------------------------------------------------------------------------------------------


def sdk() -> ModuleType:
    """sentry_sdk, or MissingExtra naming ``django-cicd[sentry]``."""
    return require("sentry_sdk")


def init_sentry(
    values: Mapping[str, Any] | None = None,
    *,
    dsn: str | None = None,
    environment: str | None = None,
    release: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    before_send: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None] | None = None,
    **sdk_options: Any,
) -> SentrySetup:
    """Initialise sentry-sdk for a Django project; call it at the end of the settings module.

    Does nothing (and does not import sentry-sdk) when there is no DSN. ``sdk_options`` go to
    ``sentry_sdk.init`` unchanged (``integrations=``, ``send_default_pii=``, ``transport=``...);
    sample rates come from SENTRY_SAMPLE_RATE, SENTRY_TRACES_SAMPLE_RATE, SENTRY_PROFILES_SAMPLE_RATE
    unless given here.
    """
    setup = resolve_setup(values, dsn=dsn, environment=environment, release=release, base_dir=base_dir)
    _state["setup"] = setup
    _state["arguments"] = {"base_dir": base_dir, "environment": environment, "release": release}
    if not setup.enabled:
        return setup
    with contextlib.suppress(ImportError):  # sdk() below raises MissingExtra, naming the extra
        # Imported here first, not through sdk() (four calls deeper): on CPython 3.11+ an import at
        # an unlucky stack depth made sentry-sdk's import map and unmap a stack chunk hundreds of
        # times (CPython gh-142183), 20-30 ms of CPU; see "Start-up cost" in docs/sentry.md.
        import sentry_sdk as _sentry_sdk  # noqa: F401
    sentry_sdk = sdk()
    options: dict[str, Any] = {**setup.options, **sdk_options}
    user_before_send = before_send

    def scrubbed_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if user_before_send is not None:
            result = user_before_send(event, hint)
            if result is None:
                return None
            event = result
        return scrub_event(event)

    try:
        sentry_sdk.init(
            dsn=setup.dsn,
            environment=setup.environment,
            release=setup.release,
            before_send=scrubbed_before_send,
            before_send_transaction=_scrub_transaction,
            **options,
        )
    except sentry_sdk.utils.BadDsn as exc:
        raise ImproperlyConfigured(
            redact(f"SENTRY_DSN is not a valid Sentry DSN ({exc}); copy it from the project's Client Keys page.")
        ) from None
    connect_hooks()
    return setup


def _scrub_transaction(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return scrub_event(event)


def scrub_event(event: dict[str, Any]) -> dict[str, Any]:
    """Mask every known secret value anywhere in an event (messages, frames' variables, breadcrumbs)."""
    secrets = secret_values()
    if not secrets:
        return event

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, dict):
            return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(scrub(v) for v in value)
        return value

    scrubbed: dict[str, Any] = scrub(event)
    return scrubbed


# -- deploy runs: check-ins, failures, flush ---------------------------------------------------------

_runs: dict[str, tuple[str, str | None, float]] = {}
_runs_lock = threading.Lock()


def monitor_slug(command: str) -> str:
    """The cron monitor a command checks in to: ``CICD["SENTRY_MONITORS"]``, else the command name
    with dashes (``safe-migrate``, ``rollback-release``)."""
    from django_cicd.conf import cicd_settings

    return cicd_settings.SENTRY_MONITORS.get(command) or command.replace("_", "-")


def connect_hooks() -> None:
    """Connect the run_started / run_finished receivers (idempotent)."""
    from django_cicd import hooks

    hooks.run_started.connect(on_run_started, dispatch_uid="django_cicd.sentry.run_started")
    hooks.run_finished.connect(on_run_finished, dispatch_uid="django_cicd.sentry.run_finished")


def disconnect_hooks() -> None:
    from django_cicd import hooks

    hooks.run_started.disconnect(dispatch_uid="django_cicd.sentry.run_started")
    hooks.run_finished.disconnect(dispatch_uid="django_cicd.sentry.run_finished")


def _active_sdk() -> ModuleType | None:
    try:
        sentry_sdk = sdk()
    except ImproperlyConfigured:
        return None
    return sentry_sdk if sentry_sdk.get_client().is_active() else None


@contextlib.contextmanager
def _run_scope(sentry_sdk: ModuleType, command: str, kwargs: Mapping[str, Any]) -> Iterator[Any]:
    release = kwargs.get("release")
    environment = kwargs.get("environment")
    details = dict(kwargs.get("details") or {})
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("cicd.command", command)
        scope.set_tag("cicd.run_id", kwargs.get("run_id"))
        if kwargs.get("database"):
            scope.set_tag("cicd.database", kwargs["database"])
        for key in ("from_release", "to_release"):
            if details.get(key):
                scope.set_tag(f"cicd.{key}", details[key])
        scope.set_context(
            "django-cicd",
            {
                "command": command,
                "run_id": kwargs.get("run_id"),
                "database": kwargs.get("database"),
                "release": release,
                "exit_code": kwargs.get("exit_code"),
                **{k: v for k, v in details.items() if isinstance(v, (str, int, float, bool, type(None)))},
            },
        )

        def stamp(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
            # The run's own release and stage, which may differ from the process's (a rollback
            # runs the new code against the old release).
            if release:
                event["release"] = release
            if environment:
                event["environment"] = environment
            return event

        scope.add_event_processor(stamp)
        yield scope


def on_run_started(sender: str, **kwargs: Any) -> None:
    """run_started receiver: an ``in_progress`` check-in for the command's monitor."""
    try:
        sentry_sdk = _active_sdk()
        if sentry_sdk is None:
            return
        slug = monitor_slug(sender)
        with _run_scope(sentry_sdk, sender, kwargs):
            check_in_id = sentry_sdk.crons.capture_checkin(monitor_slug=slug, status="in_progress")
        with _runs_lock:
            _runs[str(kwargs.get("run_id"))] = (slug, check_in_id, time.monotonic())
    except Exception as exc:  # noqa: BLE001 (reporting must never change a deploy's outcome)
        logger.warning("django-cicd: could not send the Sentry check-in of %s: %s", sender, redact(str(exc)))


def on_run_finished(sender: str, **kwargs: Any) -> None:
    """run_finished receiver: the closing check-in, an event for a failure, then a flush."""
    try:
        sentry_sdk = _active_sdk()
        if sentry_sdk is None:
            return
        from django_cicd.conf import cicd_settings

        with _runs_lock:
            slug, check_in_id, started = _runs.pop(
                str(kwargs.get("run_id")), (monitor_slug(sender), None, time.monotonic())
            )
        ok = bool(kwargs.get("ok"))
        with _run_scope(sentry_sdk, sender, kwargs) as scope:
            sentry_sdk.crons.capture_checkin(
                monitor_slug=slug,
                check_in_id=check_in_id,
                status="ok" if ok else "error",
                duration=time.monotonic() - started,
            )
            if not ok:
                error = kwargs.get("error")
                summary = redact(str(kwargs.get("summary") or f"{sender} failed"))
                scope.set_level("error")
                scope.set_extra("summary", summary)
                if isinstance(error, BaseException):
                    sentry_sdk.capture_exception(error)
                else:
                    sentry_sdk.capture_message(summary, level="error")
        sentry_sdk.flush(timeout=cicd_settings.SENTRY_FLUSH_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 (reporting must never change a deploy's outcome)
        logger.warning("django-cicd: could not report %s to Sentry: %s", sender, redact(str(exc)))


# -- transports: recording (tests) and reporting (sentry_check) -------------------------------------


def _transport_base() -> type[Any]:
    transport: type[Any] = require("sentry_sdk.transport").Transport
    return transport


class _Lazy:
    """Classes built on sentry-sdk's, created on first use so that importing this module never
    imports sentry-sdk."""

    _cache: dict[str, type[Any]] = {}

    @classmethod
    def recording(cls) -> type[Any]:
        if "recording" not in cls._cache:
            base = _transport_base()

            class RecordingTransport(base):  # type: ignore[valid-type, misc]
                """Keeps every envelope in memory instead of sending it."""

                def __init__(self, options: dict[str, Any] | None = None) -> None:
                    super().__init__(options)
                    self.envelopes: list[Envelope] = []

                def capture_envelope(self, envelope: Envelope) -> None:
                    self.envelopes.append(envelope)

            cls._cache["recording"] = RecordingTransport
        return cls._cache["recording"]

    @classmethod
    def reporting(cls) -> type[Any]:
        if "reporting" not in cls._cache:
            http: type[Any] = require("sentry_sdk.transport").HttpTransport

            class ReportingHttpTransport(http):  # type: ignore[misc]
                """sentry-sdk's HTTP transport, remembering whether each envelope was accepted."""

                def __init__(self, options: dict[str, Any]) -> None:
                    super().__init__(options)
                    self.submitted = 0
                    self.accepted = 0
                    self.failures: list[str] = []

                def capture_envelope(self, envelope: Envelope) -> None:
                    self.submitted += 1
                    super().capture_envelope(envelope)

                def _handle_response(self, response: Any, envelope: Any) -> None:
                    super()._handle_response(response=response, envelope=envelope)
                    if 200 <= response.status < 300:
                        self.accepted += 1

                def on_dropped_event(self, reason: str) -> None:
                    self.failures.append(reason)

            cls._cache["reporting"] = ReportingHttpTransport
        return cls._cache["reporting"]


def recording_transport_class() -> type[Any]:
    """A sentry-sdk Transport keeping envelopes in ``.envelopes`` (for tests)."""
    return _Lazy.recording()


@dataclass
class SentryRecorder:
    """What would have been sent to Sentry: ``envelopes``, and from them ``events`` and ``checkins``."""

    transport: Any
    setup: SentrySetup

    @property
    def envelopes(self) -> list[Envelope]:
        envelopes: list[Envelope] = self.transport.envelopes
        return envelopes

    @property
    def items(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for envelope in self.envelopes:
            for item in envelope.items:
                payload = item.payload.json
                if payload is None and item.payload.bytes:
                    payload = json.loads(item.payload.bytes)
                if isinstance(payload, dict):
                    found.append((str(item.type), payload))
        return found

    @property
    def events(self) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.items if kind == "event"]

    @property
    def checkins(self) -> list[dict[str, Any]]:
        return [payload for kind, payload in self.items if kind == "check_in"]

    def clear(self) -> None:
        self.transport.envelopes.clear()


TEST_DSN = "https://publickey@sentry.invalid/1"


@contextlib.contextmanager
def recording(
    *, environment: str = "test", release: str | None = "test-release", **options: Any
) -> Iterator[SentryRecorder]:
    """Initialise Sentry through :func:`init_sentry` (scrubbing and hooks included) with a recording
    transport; restore the previous client and setup afterwards (see :func:`_restoring`)."""
    with _restoring():
        transport = recording_transport_class()({"dsn": TEST_DSN})
        setup = init_sentry(
            dsn=TEST_DSN,
            environment=environment,
            release=release,
            transport=transport,
            default_integrations=False,
            auto_enabling_integrations=False,
            **options,
        )
        yield SentryRecorder(transport=transport, setup=setup)


@contextlib.contextmanager
def _restoring(*, timeout: float | None = None) -> Iterator[None]:
    """Put back, when the block ends, what :func:`init_sentry` changes in the process: sentry-sdk's
    global client (the one set in the block is closed, waiting up to ``timeout`` seconds, default
    sentry-sdk's ``shutdown_timeout``) and the setup remembered for predeploy's Sentry check."""
    sentry_sdk = sdk()
    scope = sentry_sdk.get_global_scope()
    previous_client = scope.client
    previous_state = dict(_state)
    try:
        yield
    finally:
        sentry_sdk.get_client().close(timeout=timeout)
        scope.set_client(previous_client)
        _state.update(previous_state)


# -- sentry_check -----------------------------------------------------------------------------------


@dataclass
class SendTestResult:
    """The outcome of :func:`send_test`."""

    accepted: bool
    reachable: bool
    event_id: str | None
    check_in_id: str | None
    submitted: int
    accepted_count: int
    failures: list[str]
    setup: SentrySetup

    command: ClassVar[str] = "sentry_check"

    @property
    def exit_code(self) -> int:
        """0 accepted; 1 Sentry answered and refused; 2 Sentry could not be reached."""
        return 0 if self.accepted else 1 if self.reachable else 2

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "refused" if self.reachable else "unreachable"

    @property
    def summary(self) -> str:
        host = self.setup.dsn_host
        if self.accepted:
            return f"sentry_check: Sentry at {host} accepted the test event and the check-in"
        reasons = ", ".join(sorted(set(self.failures))) or "no answer before the timeout"
        if not self.reachable:
            return (
                f"sentry_check: Sentry at {host} could not be reached ({reasons}); check the DSN's host and "
                "that this machine may connect to it"
            )
        return (
            f"sentry_check: Sentry at {host} refused the test envelopes ({reasons}); check that the DSN's key "
            "is active on the project's Client Keys page"
        )

    def as_dict(self) -> dict[str, Any]:
        from django_cicd.results import envelope

        return {
            **envelope(
                "sentry_check", command=self.command, status=self.status, exit_code=self.exit_code, summary=self.summary
            ),
            "accepted": self.accepted,
            "reachable": self.reachable,
            "event_id": self.event_id,
            "check_in_id": self.check_in_id,
            "envelopes": {"sent": self.submitted, "accepted": self.accepted_count},
            "failures": list(self.failures),
            "dsn_host": self.setup.dsn_host,
            "environment": self.setup.environment,
            "environment_source": self.setup.environment_source,
            "release": self.setup.release,
            "release_source": self.setup.release_source,
        }


def send_test(*, monitor: str = "django-cicd-sentry-check", timeout: float = 10.0) -> SendTestResult:
    """Send a test event and a check-in with the configured DSN and report whether Sentry accepted
    them. Uses its own client (same DSN, environment, release) with sentry-sdk's HTTP transport."""
    setup = current_setup()
    if setup is None or not setup.enabled:
        setup = resolve_setup(**init_arguments())
    if not setup.enabled:
        raise ImproperlyConfigured(
            "Sentry is not set up: SENTRY_DSN is empty; set it (and call django_cicd.sentry.init_sentry() "
            "in the settings)."
        )
    sentry_sdk = sdk()
    transport_class = _Lazy.reporting()
    client = sentry_sdk.Client(
        dsn=setup.dsn,
        environment=setup.environment,
        release=setup.release,
        transport=transport_class,
        send_client_reports=False,
        default_integrations=False,
        auto_enabling_integrations=False,
        before_send=lambda event, hint: scrub_event(event),
    )
    with sentry_sdk.new_scope() as scope:
        scope.set_client(client)
        scope.set_tag("cicd.command", "sentry_check")
        event_id = scope.capture_message(
            f"django-cicd sentry_check: test event from {socket.gethostname()}", level="info"
        )
        check_in_id = sentry_sdk.crons.capture_checkin(monitor_slug=monitor, status="ok")
    client.flush(timeout=timeout)
    transport = client.transport
    client.close(timeout=timeout)
    failures = list(transport.failures)
    network = any(reason in {"network", "full_queue"} for reason in failures)
    accepted = transport.submitted > 0 and transport.accepted == transport.submitted and not failures
    return SendTestResult(
        accepted=accepted,
        reachable=not network and (transport.accepted > 0 or bool(failures)),
        event_id=event_id,
        check_in_id=check_in_id,
        submitted=transport.submitted,
        accepted_count=transport.accepted,
        failures=failures,
        setup=setup,
    )


def parse_dsn_problem(dsn: str) -> str | None:
    """None when sentry-sdk accepts ``dsn``, else the reason (the key never in it)."""
    utils = require("sentry_sdk.utils")
    try:
        utils.Dsn(dsn)
    except utils.BadDsn as exc:
        return redact(str(exc), [p for p in _dsn_secret_parts(dsn) if p])
    except ValueError:
        return "it is not a URL"
    return None


def _dsn_secret_parts(dsn: str) -> Sequence[str]:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(dsn)
    except ValueError:
        return [dsn]
    return [p for p in (parts.username, parts.password) if p]
