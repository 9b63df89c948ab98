"""Django settings for SkinFlow Studio, read from the environment.

Embedded default (no variables set): SQLite and kombu's filesystem broker under ``data/``, so a first run
needs no server. Production and the test suite set ``DATABASE_URL`` (PostgreSQL via psycopg 3) and
``CELERY_BROKER_URL`` (Redis).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from exc


DATA_DIR = Path(os.environ.get("SKINFLOW_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
_DEFAULT_SECRET = "insecure-dev-key-change-me"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEFAULT_SECRET)
if not DEBUG and SECRET_KEY == _DEFAULT_SECRET:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set and DEBUG is off. Set DJANGO_SECRET_KEY to a long random string "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DJANGO_DEBUG=1 for local work."
    )
# Behind a TLS-terminating proxy (the production setup) set DJANGO_HTTPS=1: cookies are then sent over
# HTTPS only, browsers are told to stay on HTTPS, and the proxy's X-Forwarded-Proto is trusted.
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_HOURS", 12) * 3600  # medical data: sessions end within a working day
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "webapp",
    "annotations",
    "evaluation",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.parsers.JsonBodyMiddleware",  # a malformed JSON body on /api/ is a 400 on every route
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.roles.roles_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'skinflow.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the Celery worker's write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage" if not DEBUG
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Medical images are never served as public static files: views check login and role first.
MEDIA_ROOT = Path(os.environ.get("SKINFLOW_MEDIA_ROOT", DATA_DIR / "media")).resolve()
MEDIA_URL = "/media-protected/"

DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["webapp.roles.HasAnyRole"],
    # DRF's defaults, with a JSON parser that refuses a body that is not an object (a 400, not a 500)
    "DEFAULT_PARSER_CLASSES": [
        "webapp.parsers.ObjectJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SkinFlow Studio API",
    "DESCRIPTION": "Datasets, samples, caption review, training and evaluation runs.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["webapp.roles.HasAnyRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------------------------------
_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # acks_late: Redis hands an unacknowledged task to another worker after the visibility timeout, even
    # while the first is still running it. The longest task is a training run (the gpu queue's supervisor
    # task lasts as long as the run: hours to days), so the timeout is long (48 h); a duplicate delivery
    # of a live run finds it claimed and leaves it. Recovering from a killed worker does not wait for the
    # timeout: the reaper loop (webapp/reaper.py) re-queues that worker's jobs within about a minute.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 48 * 3600)}
# Celery's Django fixup closes every database connection before and after each task unless this is set:
# a new PostgreSQL connection per task cost the llm worker about a tenth of its throughput. Connections
# are kept instead, and webapp/celery_app.py closes the unusable or too old ones around each task
# (Django's own rule: CONN_MAX_AGE, errors), so a database restart still heals.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100_000)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Self-healing (webapp/reaper.py) ------------------------------------------------------------------------
# How often each worker beats and reaps; when a silent worker counts as dead; when a queued job that made
# no progress is sent to the broker again (it may have been lost with a broker restart or never sent).
SKINFLOW_REAPER_INTERVAL_S = env_int("SKINFLOW_REAPER_INTERVAL_S", 10)
SKINFLOW_WORKER_DEAD_AFTER_S = env_int("SKINFLOW_WORKER_DEAD_AFTER_S", 45)
SKINFLOW_REQUEUE_AFTER_S = env_int("SKINFLOW_REQUEUE_AFTER_S", 60)

# --- LLM endpoints --------------------------------------------------------------------------------------
# Defaults for every role; per-role variables (SKINFLOW_JUDGE_BASE_URL, ...) and LLMEndpoint rows in
# the database override them. Keys are never stored: only the NAME of the variable that holds one.
SKINFLOW_LLM_BASE_URL = os.environ.get("SKINFLOW_LLM_BASE_URL", "http://127.0.0.1:8009/v1")
SKINFLOW_LLM_MODEL = os.environ.get("SKINFLOW_LLM_MODEL", "Qwen2.5-VL-7B-Instruct")
# Empty: the endpoint needs no key (a local vLLM). For hosted APIs set e.g. SKINFLOW_LLM_API_KEY_ENV=OPENAI_API_KEY.
SKINFLOW_LLM_API_KEY_ENV = os.environ.get("SKINFLOW_LLM_API_KEY_ENV", "")
SKINFLOW_LLM_CACHE = os.environ.get("SKINFLOW_LLM_CACHE", str(DATA_DIR / "llm-cache.sqlite3"))

# --- Images ---------------------------------------------------------------------------------------------
SKINFLOW_MAX_IMAGE_PIXELS = env_int("SKINFLOW_MAX_IMAGE_PIXELS", 40_000_000)
SKINFLOW_MAX_UPLOAD_BYTES = env_int("SKINFLOW_MAX_UPLOAD_BYTES", 30 * 1024 * 1024)
SKINFLOW_THUMBNAIL_SIZE = env_int("SKINFLOW_THUMBNAIL_SIZE", 256)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SKINFLOW_LOG_LEVEL", "INFO")},
    # One line per HTTP request to an LLM is noise; the gateway records every call itself.
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "openai")},
}
