"""Settings for the RIS, read from the environment.

With nothing set the service runs embedded: an SQLite file under RIS_DATA_DIR and
Celery tasks executed in-process. DATABASE_URL and CELERY_BROKER_URL switch to
PostgreSQL and Redis. See README.md for the full table.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from audit.schedule import BEAT_SCHEDULE as AUDIT_BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value, e.g. "
            "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for a local trial."
        )
    SECRET_KEY = "insecure-debug-only-key-never-used-without-DEBUG"  # noqa: S105

DATA_DIR = Path(env_str("RIS_DATA_DIR", "var")).resolve()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
if DEBUG:
    ALLOWED_HOSTS.append("testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "worklist",
    "audit",
    "export",
    "hl7v2",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ris.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "ris.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "ris.wsgi.application"


def database_settings() -> dict:
    url = env_str("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
        config["CONN_HEALTH_CHECKS"] = True
        pool_size = env_int("DATABASE_POOL_SIZE", 10)
        if config["ENGINE"] == "django.db.backends.postgresql" and pool_size > 0:
            # A pool per process: the DICOM listener serves each association in a new
            # thread, and a PostgreSQL session per association (a backend started, its
            # caches cold) cost more than the MPPS message itself.
            config["CONN_MAX_AGE"] = 0
            # While the database is down a request waits this long for a connection,
            # then fails: well within a modality's DIMSE timeout (commonly 30 s), so it
            # hears a failure status rather than giving up on a silent association.
            config.setdefault("OPTIONS", {})["pool"] = {
                "min_size": 1,
                "max_size": pool_size,
                "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
            }
        return config
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Embedded default: WAL lets the web server and the DICOM listener read while one
    # writes; IMMEDIATE transactions take the write lock up front, so two writers queue
    # on the busy timeout instead of failing with 'database is locked'.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "ris.sqlite3",
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


DATABASES = {"default": database_settings()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere (pages, pickers, the admin): ris/formats/en/formats.py.
FORMAT_MODULE_PATH = ["ris.formats"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "ui:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "ui:login"

# Login throttling (worklist.ui.lockout): failures per user name and address, counted in the
# default cache.
AUTHENTICATION_BACKENDS = ["worklist.ui.lockout.ThrottledModelBackend"]
RIS_LOGIN_MAX_FAILURES = env_int("RIS_LOGIN_MAX_FAILURES", 5)
RIS_LOGIN_LOCKOUT_SECONDS = env_int("RIS_LOGIN_LOCKOUT_SECONDS", 15 * 60)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("RIS_SESSION_SECONDS", 8 * 3600)
# Behind a TLS reverse proxy (docs/operations.md): the proxy terminates TLS and says so
# in X-Forwarded-Proto; plain HTTP is redirected (except the health check, asked by
# local probes), browsers are told to use HTTPS only (HSTS) and cookies go over HTTPS
# only. `manage.py check --deploy` is clean with this on.
RIS_TLS_PROXY = env_bool("RIS_TLS_PROXY")
if RIS_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("RIS_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("RIS_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("RIS_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool(
    "RIS_SECURE_COOKIES", RIS_TLS_PROXY or (not DEBUG and bool(CSRF_TRUSTED_ORIGINS))
)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# How often the calendar asks again for what changed (a modality starting an exam).
RIS_UI_POLL_SECONDS = env_int("RIS_UI_POLL_SECONDS", 5)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ris.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": [
        "ris.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "ris.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ris.api_errors.exception_handler",
    "DATETIME_INPUT_FORMATS": ["iso-8601"],
    "DATE_INPUT_FORMATS": ["%Y-%m-%d"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RIS API",
    "DESCRIPTION": "Book imaging exams and follow them through the modality worklist.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed drf-spectacular-sidecar, not a CDN: the docs work
    # without internet and under the Content-Security-Policy (ris/security.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema describes the whole API: signed-in users and token holders only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One name per choice set shared by several fields (else `check --deploy` warns).
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "worklist.models.OrderStatus",
        "StepStatusEnum": "worklist.models.StepStatus",
        "PerformedStepStatusEnum": "worklist.models.PerformedStepStatus",
        "StudyOutcomeEnum": "worklist.models.StudyOutcome",
    },
}

# Celery: with no broker, tasks run in-process (eagerly) so nothing else must run.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# `celery -A ris beat` keeps its schedule state in the data directory, not the current
# one: two instances on one host never share it.
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Periodic tasks (`celery -A ris beat`): the audit chain's daily verify and expiry,
# and forwarding to the audit record repository.
CELERY_BEAT_SCHEDULE = {**AUDIT_BEAT_SCHEDULE}
# De-identified exports (export app): files past their expiry are deleted hourly.
CELERY_BEAT_SCHEDULE["export.expire"] = {"task": "export.expire", "schedule": 3600.0}

# The cache must be shared by all web server processes (login throttling counts in it):
# Redis when the broker is Redis, else files under the data directory.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "ris",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
            "KEY_PREFIX": "ris",
        }
    }

# Processes and ports (see the contract).
RIS_HTTP_HOST = env_str("RIS_HTTP_HOST", "127.0.0.1")
RIS_HTTP_PORT = env_int("RIS_HTTP_PORT", 8000)
RIS_HTTP_WORKERS = env_int("RIS_HTTP_WORKERS", 2 * (os.cpu_count() or 1))
RIS_HTTP_THREADS = env_int("RIS_HTTP_THREADS", 2)
# gunicorn's control socket (for `gunicornc`), at RIS_DATA_DIR/run/gunicorn.ctl.
RIS_HTTP_CONTROL_SOCKET = env_bool("RIS_HTTP_CONTROL_SOCKET", True)
RIS_DICOM_HOST = env_str("RIS_DICOM_HOST", "127.0.0.1")
RIS_DICOM_PORT = env_int("RIS_DICOM_PORT", 11112)
RIS_AE_TITLE = env_str("RIS_AE_TITLE", "RIS")
RIS_DICOM_MAX_PDU = env_int("RIS_DICOM_MAX_PDU", 65536)
RIS_DICOM_ACSE_TIMEOUT = env_int("RIS_DICOM_ACSE_TIMEOUT", 30)
RIS_DICOM_DIMSE_TIMEOUT = env_int("RIS_DICOM_DIMSE_TIMEOUT", 30)
RIS_DICOM_NETWORK_TIMEOUT = env_int("RIS_DICOM_NETWORK_TIMEOUT", 60)
RIS_DICOM_REQUIRE_CALLED_AE = env_bool("RIS_DICOM_REQUIRE_CALLED_AE", True)
RIS_DICOM_MAX_ASSOCIATIONS = env_int("RIS_DICOM_MAX_ASSOCIATIONS", 32)
# Listener processes sharing the DICOM ports (worklist/dicom/processes.py); 1 runs the
# listener in the process of `dicomserver` or `runris` itself.
RIS_DICOM_PROCESSES = env_int("RIS_DICOM_PROCESSES", os.cpu_count() or 1)
# Connections whose A-ASSOCIATE-RQ has not arrived yet (worklist/dicom/transport.py):
# a budget of their own, in all and per peer address, the oldest shed when full.
RIS_DICOM_MAX_PENDING = env_int("RIS_DICOM_MAX_PENDING", 16)
RIS_DICOM_MAX_PENDING_PER_PEER = env_int("RIS_DICOM_MAX_PENDING_PER_PEER", 4)
# Modality worklist (worklist/dicom/mwl.py). Strict: a calling AE title that is neither
# a known modality nor a station's is refused worklist associations.
RIS_DICOM_STRICT_AE = env_bool("RIS_DICOM_STRICT_AE", not DEBUG)
RIS_MWL_MAX_MATCHES = env_int("RIS_MWL_MAX_MATCHES", 1000)
RIS_MWL_ACCENT_INSENSITIVE = env_bool("RIS_MWL_ACCENT_INSENSITIVE", True)
# DICOM over TLS (PS3.15 Annex B) on a second port; 0 leaves it off.
RIS_DICOM_TLS_PORT = env_int("RIS_DICOM_TLS_PORT", 0)
RIS_DICOM_TLS_CERT = env_str("RIS_DICOM_TLS_CERT")
RIS_DICOM_TLS_KEY = env_str("RIS_DICOM_TLS_KEY")
RIS_DICOM_TLS_CA = env_str("RIS_DICOM_TLS_CA")
RIS_DICOM_TLS_REQUIRE_CLIENT_CERT = env_bool("RIS_DICOM_TLS_REQUIRE_CLIENT_CERT", False)
RIS_RECONCILE_QUIET_SECONDS = env_int("RIS_RECONCILE_QUIET_SECONDS", 30)
# Arriving studies (worklist/services/studies.py, worklist/tasks.py): the sweeper finds
# studies whose reconciliation was never enqueued or was lost; files of stored
# instances are kept under RIS_DATA_DIR/studies only when asked (the RIS is no archive).
RIS_RECONCILE_SWEEP_SECONDS = env_int("RIS_RECONCILE_SWEEP_SECONDS", 60)
RIS_STORE_FILES = env_bool("RIS_STORE_FILES", False)
# The PACS asked by C-FIND for the studies of the last RIS_PACS_POLL_HOURS.
RIS_PACS_AE_TITLE = env_str("RIS_PACS_AE_TITLE")
RIS_PACS_HOST = env_str("RIS_PACS_HOST")
RIS_PACS_PORT = env_int("RIS_PACS_PORT", 104)
RIS_PACS_POLL_SECONDS = env_int("RIS_PACS_POLL_SECONDS", 120)
RIS_PACS_POLL_HOURS = env_int("RIS_PACS_POLL_HOURS", 24)
# A viewer for a study, e.g. OHIF: https://viewer.example.org/viewer?StudyInstanceUIDs={study_instance_uid}
RIS_VIEWER_URL = env_str("RIS_VIEWER_URL")
CELERY_BEAT_SCHEDULE["worklist-sweep-studies"] = {
    "task": "worklist.sweep_studies",
    "schedule": float(RIS_RECONCILE_SWEEP_SECONDS),
}
if RIS_PACS_HOST and RIS_PACS_AE_TITLE:
    CELERY_BEAT_SCHEDULE["worklist-poll-pacs"] = {
        "task": "worklist.poll_pacs",
        "schedule": float(RIS_PACS_POLL_SECONDS),
    }

# HL7 v2 interface (hl7 app; README "HL7"): the MLLP listener (0: off), who may send,
# how long messages are kept, where order status messages go.
RIS_HL7_HOST = env_str("RIS_HL7_HOST", RIS_DICOM_HOST)
RIS_HL7_PORT = env_int("RIS_HL7_PORT", 0)
RIS_HL7_APPLICATION = env_str("RIS_HL7_APPLICATION", "RIS")
RIS_HL7_FACILITY = env_str("RIS_HL7_FACILITY")
RIS_HL7_STRICT_SENDERS = env_bool("RIS_HL7_STRICT_SENDERS", not DEBUG)
RIS_HL7_TIMEOUT = env_int("RIS_HL7_TIMEOUT", 60)
RIS_HL7_KEEP_DAYS = env_int("RIS_HL7_KEEP_DAYS", 90)
RIS_HL7_TLS_CERT = env_str("RIS_HL7_TLS_CERT")
RIS_HL7_TLS_KEY = env_str("RIS_HL7_TLS_KEY")
RIS_HL7_TLS_CA = env_str("RIS_HL7_TLS_CA")
RIS_HL7_DESTINATIONS = env_str("RIS_HL7_DESTINATIONS")
RIS_HL7_VERSION = env_str("RIS_HL7_VERSION", "2.5.1")
RIS_HL7_RETRY_SECONDS = env_int("RIS_HL7_RETRY_SECONDS", 10)
CELERY_BEAT_SCHEDULE["hl7-outbox"] = {"task": "hl7.drain_outbox", "schedule": 30.0}
CELERY_BEAT_SCHEDULE["hl7-expire"] = {"task": "hl7.expire_messages", "schedule": 3600.0}

# Access audit (audit app; README "Access audit"). Retention 0 keeps every event.
AUDIT_RETENTION_MONTHS = env_int("RIS_AUDIT_RETENTION_MONTHS", 0)
AUDIT_SYNCHRONOUS_READS = env_bool("RIS_AUDIT_SYNCHRONOUS_READS", False)
AUDIT_SYSLOG_HOST = env_str("RIS_AUDIT_SYSLOG_HOST")
AUDIT_SYSLOG_PORT = env_int("RIS_AUDIT_SYSLOG_PORT", 6514)
AUDIT_SYSLOG_TLS = env_bool("RIS_AUDIT_SYSLOG_TLS", True)
AUDIT_SYSLOG_CA_FILE = env_str("RIS_AUDIT_SYSLOG_CA_FILE")
AUDIT_SYSLOG_CERT_FILE = env_str("RIS_AUDIT_SYSLOG_CERT_FILE")
AUDIT_SYSLOG_KEY_FILE = env_str("RIS_AUDIT_SYSLOG_KEY_FILE")
AUDIT_SOURCE_ID = env_str("RIS_AUDIT_SOURCE_ID", "RIS")
AUDIT_ENTERPRISE_SITE_ID = env_str("RIS_AUDIT_SITE_ID")
AUDIT_WORKING_HOURS = env_str("RIS_AUDIT_WORKING_HOURS", "07:00-19:00")
AUDIT_WORKING_DAYS = env_str("RIS_AUDIT_WORKING_DAYS", "0,1,2,3,4")
AUDIT_TRUSTED_PROXIES = env_int("RIS_AUDIT_TRUSTED_PROXIES", 0)
# The key of the audit chain (HMAC), kept outside the database like SECRET_KEY; older
# keys, comma-separated, still verify the events they chained (docs/operations.md).
AUDIT_KEY = env_str("RIS_AUDIT_KEY")
if not AUDIT_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "RIS_AUDIT_KEY is not set. Set it to a long random value kept outside the "
            "database, e.g. RIS_AUDIT_KEY=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or set DEBUG=1 for a local trial."
        )
    AUDIT_KEY = "insecure-debug-only-audit-key-never-used-without-DEBUG"  # noqa: S105
if len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("RIS_AUDIT_KEY must have at least 32 characters")
AUDIT_KEYS_RETIRED = env_list("RIS_AUDIT_KEYS_RETIRED")
AUDIT_UNKEYED_THROUGH = env_int("RIS_AUDIT_UNKEYED_THROUGH", 0)
# The expiry role's connection (docs/operations.md, "Database roles"): only `audit
# expire` uses it; unset, the expiry runs on the default connection.
AUDIT_EXPIRY_DATABASE_URL = env_str("RIS_AUDIT_EXPIRY_DATABASE_URL")
if AUDIT_EXPIRY_DATABASE_URL:
    DATABASES["audit_expiry"] = dj_database_url.parse(AUDIT_EXPIRY_DATABASE_URL)
# Signed checkpoints of the chain's head (task audit.checkpoint, every 5 minutes).
AUDIT_CHECKPOINT_FILE = env_str("RIS_AUDIT_CHECKPOINT_FILE") or str(
    DATA_DIR / "audit" / "checkpoints.log"
)

# De-identified exports (README "De-identified exports"): hours a built export may be
# downloaded before its file is deleted.
RIS_EXPORT_EXPIRY_HOURS = env_int("RIS_EXPORT_EXPIRY_HOURS", 7 * 24)

# Identifiers generated when an order arrives without them.
RIS_ACCESSION_PATTERN = env_str("RIS_ACCESSION_PATTERN", "{date:%Y}{seq:06d}")
RIS_UID_ROOT = env_str("RIS_UID_ROOT")

# No patient data in the logs beyond identifiers (tests/web/test_no_patient_data_in_logs.py).
# pydicom's warnings quote the invalid values of elements a peer sent (a birth date),
# so only its errors are logged; pynetdicom at DEBUG dumps whole datasets: for a
# short diagnosis only. pydicom sets its logger's level when first imported: import it
# before Django applies LOGGING, so the level below holds.
import pydicom.config  # noqa: E402,F401

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals_on_one_line": {"()": "ris.logs.RefusalsOnOneLine"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("RIS_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"filters": ["refusals_on_one_line"]},
        "pynetdicom": {"level": env_str("RIS_DICOM_LOG_LEVEL", "WARNING")},
        "pydicom": {"level": "ERROR"},
    },
}
