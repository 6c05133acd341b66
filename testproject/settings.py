"""Settings of the testproject: twelve-factor, every variable declared in one environment contract.

DJANGO_ENV selects the stage (development, test, staging, production): staging and production
require a real SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL, and the deploy checks (predeploy) hold
them to HTTPS. DJANGO_BUILD=1 lets these settings import inside `docker build` (collectstatic)
without the runtime secrets; predeploy enforces them at deploy. `manage.py env` lists the contract.
"""

from pathlib import Path

from django_cicd import env
from django_cicd.sentry import VARIABLES as SENTRY_VARIABLES
from django_cicd.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = BASE_DIR.parent / "var"
DEPLOYED = ["staging", "production"]

CONTRACT = env.Contract(
    env.Var(
        "SECRET_KEY",
        secret=True,
        required=DEPLOYED,
        default="django-insecure-testproject-development-key",
        help="Django's signing key: 50 or more random characters, different in every stage.",
    ),
    env.Var(
        "DEBUG",
        bool,
        default=env.by_stage(development=True, otherwise=False),
        help="Django's debug mode; on by default only in development.",
    ),
    env.Var(
        "ALLOWED_HOSTS",
        list,
        required=DEPLOYED,
        default=["localhost", "127.0.0.1", "[::1]", "testserver"],
        help="Comma-separated host names the site answers to.",
        example="shop.example.com,www.shop.example.com",
    ),
    env.Var(
        "DATABASE_URL",
        "db_url",
        secret=True,
        required=DEPLOYED,
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        help="The database, as a URL: postgres://USER:PASSWORD@HOST:5432/NAME, mysql://..., sqlite:///PATH.",
        example="postgres://shop:change-me@db:5432/shop",
    ),
    env.Var(
        "CACHE_URL",
        "cache_url",
        secret=True,
        default="locmemcache://",
        help="The cache, as a URL: redis://HOST:6379/0, locmemcache://, dummycache://.",
        example="redis://cache:6379/0",
    ),
    env.Var(
        "BACKUP_DIR",
        "path",
        default=str(VAR_DIR / "backups"),
        help="Directory of the database backups safe_migrate takes (django-dbbackup's storage).",
        example="/var/backups/shop",
    ),
    env.Var(
        "STATIC_ROOT",
        "path",
        default=str(VAR_DIR / "static"),
        help="Directory collectstatic writes to.",
        example="/app/static",
    ),
    env.Var(
        "SECURE_SSL_REDIRECT",
        bool,
        default=env.by_stage(staging=True, production=True, otherwise=False),
        help="Redirect HTTP to HTTPS; off when a proxy in front already does it.",
    ),
    *SENTRY_VARIABLES,
)
E = CONTRACT.load()
STAGE = E.stage
PRODUCTION = STAGE in DEPLOYED

DEBUG = E.DEBUG
SECRET_KEY = E.SECRET_KEY
ALLOWED_HOSTS = E.ALLOWED_HOSTS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dbbackup",
    "django_cicd",
    "testproject.accounts",
    "testproject.catalog",
    "testproject.orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"
WSGI_APPLICATION = "testproject.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": E.DATABASE_URL}
POSTGRESQL_ENGINES = {"django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"}
if DATABASES["default"]["ENGINE"] in POSTGRESQL_ENGINES:
    # As most PostgreSQL projects have it: its connection_created receiver runs on every connection.
    INSTALLED_APPS.append("django.contrib.postgres")
CACHES = {"default": E.CACHE_URL}

STATIC_URL = "static/"
STATIC_ROOT = E.STATIC_ROOT
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(E.BACKUP_DIR)},
    },
}

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# HTTPS in staging and production; the deploy checks (predeploy) hold us to it.
SECURE_SSL_REDIRECT = E.SECURE_SSL_REDIRECT
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Secret values of the contract (and every other known secret) stay off debug pages and error e-mails.
DEFAULT_EXCEPTION_REPORTER_FILTER = "django_cicd.debug.SecretsExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "django_cicd.debug.SecretsExceptionReporter"

CICD = {
    "ENVIRONMENT": STAGE,
    "ENV_CONTRACT": "testproject.settings.CONTRACT",
}

# Sentry only when SENTRY_DSN is set: environment = the stage, release from CI or the REVISION file.
init_sentry(E, base_dir=BASE_DIR.parent)
