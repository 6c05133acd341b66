"""The environment contract: parsing through django-environ, its sharp edges handled, secrets kept in."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter

from django_cicd import env
from django_cicd.redaction import redact

SECRET = "s3cr3t-planted-value-0f9e8d7c6b5a"


def contract(**kwargs):
    return env.Contract(
        env.Var("SECRET_KEY", secret=True, required=["staging", "production"], default="dev-key", help="signing key"),
        env.Var("DEBUG", bool, default=env.by_stage(development=True, otherwise=False), help="debug mode"),
        env.Var("DATABASE_URL", "db_url", secret=True, required=["production"], default="sqlite:///dev.sqlite3"),
        env.Var("CACHE_URL", "cache_url", default="locmemcache://"),
        env.Var("EMAIL_URL", "email_url", default="consolemail://"),
        env.Var("WORKERS", int, default=2),
        env.Var("RATE", float, default=0.5),
        env.Var("HOSTS", list, default=["localhost"]),
        env.Var("FLAGS", "json", default={}),
        env.Var("API_URL", "url", default="https://api.example.com/"),
        env.Var("DATA_DIR", "path", default="/tmp/data"),
        env.Var("LOG_LEVEL", choices=["debug", "info", "warning"], default="info"),
        **kwargs,
    )


def test_defaults_in_development():
    values = contract().load({})
    assert values.stage == "development"
    assert values.build is False
    assert values.DEBUG is True
    assert values.SECRET_KEY == "dev-key"
    assert values.DATABASE_URL["ENGINE"] == "django.db.backends.sqlite3"
    assert values.CACHE_URL["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values.EMAIL_URL["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert values["WORKERS"] == 2
    assert values.HOSTS == ["localhost"]
    assert Path("/tmp/data") == values.DATA_DIR
    assert values.API_URL.netloc == "api.example.com"


def test_values_are_parsed_by_django_environ():
    values = contract().load(
        {
            "DATABASE_URL": "postgres://app:pw@db.internal:5432/shop",
            "CACHE_URL": "redis://cache:6379/1",
            "EMAIL_URL": "smtp://mailer@example.com:pw@smtp.example.com:587",
            "WORKERS": " 8 ",
            "RATE": "0.25",
            "HOSTS": "a.example.com, b.example.com,",
            "FLAGS": '{"beta": true}',
            "LOG_LEVEL": "debug",
            "DEBUG": "off",
        }
    )
    assert values.DATABASE_URL["ENGINE"] == "django.db.backends.postgresql"
    assert values.DATABASE_URL["HOST"] == "db.internal"
    assert values.CACHE_URL["LOCATION"] == "redis://cache:6379/1"
    assert values.EMAIL_URL["EMAIL_PORT"] == 587
    assert (values.WORKERS, values.RATE, values.DEBUG) == (8, 0.25, False)
    assert values.HOSTS == ["a.example.com", "b.example.com"]
    assert values.FLAGS == {"beta": True}


def test_a_path_under_an_unknown_users_home_is_a_problem_not_a_crash():
    # Path("~nosuchuser").expanduser() raises RuntimeError; found by the property test with ROOT='~0'.
    with pytest.raises(env.ContractError) as caught:
        contract().load({"DATA_DIR": "~no-such-user-zz9/data"})
    [problem] = caught.value.problems
    assert (problem.name, problem.kind) == ("DATA_DIR", "invalid")
    assert "home directory cannot be determined" in str(caught.value)


def test_every_problem_is_reported_at_once_with_its_help():
    with pytest.raises(env.ContractError) as caught:
        contract().load(
            {"DJANGO_ENV": "production", "DEBUG": "Flase", "WORKERS": "eight", "RATE": "0.5s", "LOG_LEVEL": "loud"}
        )
    assert isinstance(caught.value, ImproperlyConfigured)
    assert [(p.name, p.kind) for p in caught.value.problems] == [
        ("SECRET_KEY", "missing"),
        ("DEBUG", "invalid"),
        ("DATABASE_URL", "missing"),
        ("WORKERS", "invalid"),
        ("RATE", "invalid"),
        ("LOG_LEVEL", "invalid"),
    ]
    assert str(caught.value) == (
        "The environment does not satisfy the settings contract for stage 'production': 6 problems.\n"
        "  - SECRET_KEY is missing (required in stage 'production') (signing key)\n"
        "  - DEBUG is invalid: 'Flase' is not a boolean; use one of true/false, yes/no, on/off, 1/0 (debug mode)\n"
        "  - DATABASE_URL is missing (required in stage 'production')\n"
        "  - WORKERS is invalid: 'eight' is not an integer\n"
        "  - RATE is invalid: '0.5s' is not a number\n"
        "  - LOG_LEVEL is invalid: 'loud' is not one of debug, info, warning\n"
        "Set each variable in the environment (or NAME_FILE to a file holding its value)."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("On", True),
        ("1", True),
        ("false", False),
        ("no", False),
        ("OFF", False),
        ("0", False),
    ],
)
def test_bool_spellings(raw, expected):
    assert contract().load({"DEBUG": raw}).DEBUG is expected


@pytest.mark.parametrize("raw", ["Flase", "ture", "2", "y", "enabled"])
def test_bool_typos_are_errors_not_false(raw):
    [problem] = contract().read({"DEBUG": raw}).problems
    assert problem.message == f"DEBUG is invalid: {raw!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0"


def test_empty_value_counts_as_unset():
    reading = contract().read({"DJANGO_ENV": "production", "SECRET_KEY": "x" * 50, "DATABASE_URL": ""})
    assert [p.message for p in reading.problems] == ["DATABASE_URL is missing (required in stage 'production')"]
    assert contract().load({"WORKERS": "  "}).WORKERS == 2


def test_empty_database_url_is_never_an_empty_dict():
    # django-environ's own env.db() gives {} (a warning only) for an empty DATABASE_URL.
    values = contract().load({"DATABASE_URL": ""})
    assert values.DATABASE_URL["ENGINE"] == "django.db.backends.sqlite3"


def test_file_secret_has_its_trailing_newline_removed(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    values = contract().load({"SECRET_KEY_FILE": str(secret_file)})
    assert values.SECRET_KEY == SECRET
    assert contract().read({"SECRET_KEY_FILE": str(secret_file)}).states[0].source == "file"


def test_file_and_value_both_set_is_an_error(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(SECRET, encoding="utf-8")
    [problem] = contract().read({"SECRET_KEY": SECRET, "SECRET_KEY_FILE": str(secret_file)}).problems
    assert problem.message == "SECRET_KEY and SECRET_KEY_FILE are both set; set only one of them"


def test_unreadable_file_is_an_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope"
    [problem] = contract().read({"SECRET_KEY_FILE": str(missing)}).problems
    assert problem.message == f"SECRET_KEY_FILE names {str(missing)!r}, which cannot be read: No such file or directory"


def test_invalid_secret_from_a_file_never_shows_its_value(tmp_path):
    db_file = tmp_path / "db"
    db_file.write_text(f"nosuchdb://user:{SECRET}@host/db\n", encoding="utf-8")
    [problem] = contract().read({"DATABASE_URL_FILE": str(db_file)}).problems
    assert problem.message.startswith("DATABASE_URL (from DATABASE_URL_FILE) is invalid: has the unknown scheme")
    assert SECRET not in problem.message


def test_dollar_values_are_literal_and_never_echoed():
    # django-environ reads "$rest" as a reference to the variable "rest" and echoes it in its error.
    value = "$" + SECRET
    values = contract().load({"SECRET_KEY": value, "DJANGO_ENV": "staging"})
    assert value == values.SECRET_KEY
    reading = contract().read({"SECRET_KEY": value, "DJANGO_ENV": "production", "WORKERS": "x"})
    assert SECRET not in reading.error_message()


def test_invalid_secret_value_is_not_shown():
    reading = contract().read({"DATABASE_URL": f"postgres://u:{SECRET}@h:notaport/db"})
    [problem] = reading.problems
    assert problem.message == "DATABASE_URL is invalid: is not a valid URL"


def test_database_url_warning_with_the_password_never_escapes():
    # django-environ warns "Engine not recognized from url: {... 'PASSWORD': ...}" for some URLs.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reading = contract().read({"DATABASE_URL": f"postgres:u:{SECRET}@h/db"})
    assert reading.problems and SECRET not in reading.error_message()


def test_unknown_scheme_lists_the_known_ones():
    [problem] = contract().read({"CACHE_URL": "nosuchcache://x"}).problems
    assert problem.message.startswith(
        "CACHE_URL is invalid: 'nosuchcache://x' has the unknown scheme 'nosuchcache'; use one of "
    )
    assert "rediscache" in problem.message


def test_stage_selects_requirements_and_defaults():
    values = contract().load({"DJANGO_ENV": "staging"} | {"SECRET_KEY": SECRET})
    assert values.stage == "staging"
    assert values.DEBUG is False
    assert values.DATABASE_URL["ENGINE"] == "django.db.backends.sqlite3"  # required in production only


def test_unknown_stage_is_a_problem():
    [problem] = contract().read({"DJANGO_ENV": "prod"}).problems
    assert problem.message == (
        "DJANGO_ENV is invalid: 'prod' is not a stage; use one of development, test, staging, production"
    )


def test_stage_variable_and_stages_are_configurable():
    custom = env.Contract(
        env.Var("TOKEN", secret=True, required=["live"]),
        stages=["local", "live"],
        stage_variable="APP_STAGE",
        default_stage=None,
    )
    [problem] = custom.read({}).problems
    assert problem.message == "APP_STAGE is missing"
    assert [p.name for p in custom.read({"APP_STAGE": "live"}).problems] == ["TOKEN"]


def test_build_phase_imports_without_runtime_secrets():
    values = contract().load({"DJANGO_ENV": "production", "DJANGO_BUILD": "1"})
    assert values.build is True
    assert values.SECRET_KEY == "dev-key"  # the declared default stands in
    reading = contract().read({"DJANGO_ENV": "production", "DJANGO_BUILD": "1"})
    assert {s.var.name: s.state for s in reading.states}["DATABASE_URL"] == "placeholder"
    # ...but the target stage is still enforced when asked (predeploy does so).
    assert [p.name for p in contract().read({"DJANGO_BUILD": "1"}, stage="production", build=False).problems] == [
        "SECRET_KEY",
        "DATABASE_URL",
    ]


def test_build_phase_placeholder_fails_loudly_for_urls():
    strict = env.Contract(env.Var("DATABASE_URL", "db_url", secret=True, required=True))
    values = strict.load({"DJANGO_BUILD": "yes"})
    assert values.DATABASE_URL == {"ENGINE": "django.db.backends.dummy"}


def test_build_variable_must_be_a_boolean():
    [problem] = contract().read({"DJANGO_BUILD": "maybe"}).problems
    assert problem.name == "DJANGO_BUILD"


def test_repr_never_shows_secrets():
    values = contract().load({"SECRET_KEY": SECRET})
    assert SECRET not in repr(values)
    assert "'SECRET_KEY': '********'" in repr(values)
    var = env.Var("TOKEN", secret=True, default=SECRET)
    assert SECRET not in repr(var)


def test_secret_values_are_registered_for_redaction(monkeypatch):
    keep = contract()  # noqa: F841  (contracts are tracked weakly)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    assert redact(f"value={SECRET}") == "value=********"


def test_secret_file_values_are_masked_too(monkeypatch, tmp_path):
    keep = contract()  # noqa: F841
    secret_file = tmp_path / "key"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret_file))
    assert redact(f"x {SECRET} y") == "x ******** y"


def test_values_missing_attribute_names_the_contract():
    with pytest.raises(AttributeError, match=re.escape("the environment contract declares no variable 'NOPE'")):
        contract().load({}).NOPE  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "decimal"}, "Var 'X': unknown kind 'decimal'; use one of str, bool"),
        ({"required": ["prod"]}, "Var 'X' is required in unknown stages: prod."),
        ({"kind": int, "choices": ["1"]}, "Var 'X': choices apply to str variables only."),
    ],
)
def test_declaration_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        env.Contract(env.Var("X", **kwargs))


def test_duplicate_and_reserved_names_are_refused():
    with pytest.raises(ValueError, match=re.escape("The contract declares A more than once.")):
        env.Contract(env.Var("A"), env.Var("A"))
    with pytest.raises(ValueError, match="DJANGO_ENV is the contract's own stage or build variable"):
        env.Contract(env.Var("DJANGO_ENV"))


def test_env_file_is_read_by_django_environ(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKERS", raising=False)
    dotenv = tmp_path / ".env"
    dotenv.write_text("WORKERS=5\n", encoding="utf-8")
    values = contract().load(env_file=dotenv)
    assert values.WORKERS == 5


def test_example_round_trip():
    c = contract()
    text = c.render_example()
    entries = env.parse_example(text)
    assert entries == env.example_entries(c)
    assert ("DEBUG", "true") in entries
    assert ("SECRET_KEY", "") in entries


def test_get_contract_from_setting():
    with override_settings(CICD={"ENV_CONTRACT": "testproject.settings.CONTRACT"}):
        from testproject.settings import CONTRACT

        assert env.get_contract() is CONTRACT
    with (
        override_settings(CICD={"ENV_CONTRACT": "testproject.settings.DEBUG"}),
        pytest.raises(ImproperlyConfigured, match=re.escape("which is a bool, not a django_cicd.env.Contract")),
    ):
        env.get_contract()


def _technical_500(secret_setting_value: str) -> str:
    request = RequestFactory().get("/boom", HTTP_X_TOKEN="nothing")
    request.META["SOME_VARIABLE"] = f"leak:{SECRET}"  # runserver copies os.environ into META
    try:
        local_secret = f"inside {SECRET}"  # noqa: F841 (shown in the frame's variables)
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        exc_type, exc_value, tb = sys.exc_info()
    reporter = ExceptionReporter(request, exc_type, exc_value, tb)
    return reporter.get_traceback_text() + reporter.get_traceback_html()


@override_settings(
    DEBUG=True,
    DEFAULT_EXCEPTION_REPORTER_FILTER="django_cicd.debug.SecretsExceptionReporterFilter",
    DEFAULT_EXCEPTION_REPORTER="django_cicd.debug.SecretsExceptionReporter",
    PAYMENT_GATEWAY=f"https://gateway.example.com/?{SECRET}",
)
def test_debug_page_hides_contract_secrets(monkeypatch):
    keep = contract()  # noqa: F841
    monkeypatch.setenv("SECRET_KEY", SECRET)
    from django.views.debug import get_exception_reporter_class

    request = RequestFactory().get("/boom")
    request.META["SOME_VARIABLE"] = f"leak:{SECRET}"
    try:
        local_secret = f"inside {SECRET}"  # noqa: F841
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        exc_type, exc_value, tb = sys.exc_info()
    reporter = get_exception_reporter_class(request)(request, exc_type, exc_value, tb)
    page = reporter.get_traceback_html() + reporter.get_traceback_text()
    assert "PAYMENT_GATEWAY" in page
    assert SECRET not in page


@override_settings(DEBUG=True, PAYMENT_GATEWAY=f"https://gateway.example.com/?{SECRET}")
def test_django_default_filter_would_show_them(monkeypatch):
    # The reason the filter exists: Django's own shows a secret in a setting whose name looks harmless.
    keep = contract()  # noqa: F841
    monkeypatch.setenv("SECRET_KEY", SECRET)
    assert SECRET in _technical_500(SECRET)
