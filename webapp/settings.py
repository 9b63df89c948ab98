"""Django settings for SkinFlow Studio, read from the environment.

Embedded default (no variables set): SQLite and kombu's filesystem broker under ``data/``, so a first run
needs no server. Production and the test suite set ``DATABASE_URL`` (PostgreSQL via psycopg 3) and
``CELERY_BROKER_URL`` (Redis).
"""

from __future__ import annotations

import os
from datetime import timedelta
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

# --- Secret key (issue 12, login and tokens) ------------------------------------------------------------
# The key signs sessions, CSRF tokens and password-reset links: a short or guessable one lets anyone forge a
# login. The thresholds are Django's own (`manage.py check --deploy`, security.W009). Refused at start, because
# an empty key passes import and then makes every request a 500.
_DEFAULT_SECRET = "insecure-dev-key-change-me"
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 5
_MAKE_A_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


# A local install's key: bin/run writes a random one here on its first run (mode 0600), so that manage.py and
# the worker find it with no variable set. Used only when DJANGO_SECRET_KEY is unset; production sets the
# variable (docker-compose requires it), which always wins. With neither, the start stops as before.
SECRET_KEY_FILE = DATA_DIR / "secret_key"


def read_secret_key_file(path: Path) -> str | None:
    """The key in ``path`` (None when there is no such file). A file other users may read is refused: the key
    signs every login."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise ImproperlyConfigured(f"{path} (the secret key bin/run wrote) may be read by other users (mode "
                                   f"{mode & 0o777:o}). Run: chmod 600 {path}")
    return path.read_text(encoding="utf-8").strip()


def secret_key_problem(key: str | None, debug: bool) -> str | None:
    """Why ``key`` (None: the variable is unset and there is no key file) must not be used, or None when it may."""
    if key is None:
        if debug:
            return None  # the development default, for DJANGO_DEBUG=1 only
        return ("DJANGO_SECRET_KEY is not set and DEBUG is off. Set DJANGO_SECRET_KEY to a long random string "
                f"({_MAKE_A_KEY}); for a local install, run bin/run once (it writes a key to {SECRET_KEY_FILE}), "
                "or set DJANGO_DEBUG=1 for local work.")
    if not key.strip():
        return (f"DJANGO_SECRET_KEY is empty. Set it to a long random string ({_MAKE_A_KEY}), or unset it and "
                "set DJANGO_DEBUG=1 for local work.")
    if debug:
        return None
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE or key.startswith("django-insecure-"):
        return (f"DJANGO_SECRET_KEY is too weak: it has {len(key)} characters ({len(set(key))} different); it needs "
                f"at least {SECRET_KEY_MIN_LENGTH} characters with at least {SECRET_KEY_MIN_UNIQUE} different ones, "
                f"and no 'django-insecure-' prefix. Make one with {_MAKE_A_KEY}.")
    return None


_secret_from_env = os.environ.get("DJANGO_SECRET_KEY")
if _secret_from_env is None and (_secret_from_file := read_secret_key_file(SECRET_KEY_FILE)) is not None:
    # Checked as strictly as a production key whatever DEBUG says: bin/run writes a strong one, so a weak
    # one was put there by hand.
    if (_secret_problem := secret_key_problem(_secret_from_file, False)) is not None:
        raise ImproperlyConfigured(_secret_problem.replace("DJANGO_SECRET_KEY", f"The key in {SECRET_KEY_FILE}", 1))
    _secret_from_env = _secret_from_file
elif (_secret_problem := secret_key_problem(_secret_from_env, DEBUG)) is not None:
    raise ImproperlyConfigured(_secret_problem)
SECRET_KEY = _DEFAULT_SECRET if _secret_from_env is None else _secret_from_env
# Behind a TLS-terminating proxy (the production setup) set DJANGO_HTTPS=1: cookies are then sent over
# HTTPS only, browsers are told to stay on HTTPS, and the proxy's X-Forwarded-Proto is trusted.
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
# --- Headers (issue 12, part 4: CSP, no-store, deploy checks) ------------------------------------------------
# Plain HTTP inside the container stays possible for the healthcheck (docker-compose calls /healthz on
# 127.0.0.1:8000 with no proxy in front); everything else is redirected to HTTPS when DJANGO_HTTPS=1.
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# includeSubDomains: a clinic's other hosts must not be reachable over plain HTTP either (DJANGO_HSTS_SUBDOMAINS=0
# when a sibling host still serves plain HTTP). Preload is a per-domain decision taken at hstspreload.org that
# binds every subdomain for months, so it is off unless DJANGO_HSTS_PRELOAD=1; the deploy check that asks for it
# (security.W021) is silenced only while it is off, on purpose.
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("DJANGO_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("DJANGO_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # sample and run ids in URLs never leave the site
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
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
    "knox",  # API tokens: stored as SHA-512 digests, with an expiry (issue 12, login and tokens)
    "axes",  # login throttling per account and per IP, held in the database (issue 12, login and tokens)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
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
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy with per-request nonces (CONTENT_SECURITY_POLICY)
    "webapp.security_headers.SecurityHeadersMiddleware",  # no-store (all but static files), Permissions-Policy, SVG CSP
    # Inside the header middlewares, so its early 400 for a malformed JSON body on /api/ carries them too
    "webapp.parsers.JsonBodyMiddleware",
    # Last, as django-axes asks: turns a login that axes refused into the lockout page or JSON (issue 12, login)
    "axes.middleware.AxesMiddleware",
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
    # Wait for the Celery worker's write lock instead of failing at once. IMMEDIATE: a transaction takes the
    # write lock when it begins, so two that read and then write (a double-clicked undo, a claim) queue up
    # instead of deadlocking on the lock upgrade, where SQLite fails one at once ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Login, throttling, tokens and passwords (issue 12, login and tokens) -----------------------------------
# Django's full set of validators, plus ours for passwords made of one part said twice ("derm3derm3x"), which
# none of Django's refuses. They run wherever a password is set through a form: admin, changepassword, seeding.
SKINFLOW_PASSWORD_MIN_LENGTH = env_int("SKINFLOW_PASSWORD_MIN_LENGTH", 12)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": SKINFLOW_PASSWORD_MIN_LENGTH}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "webapp.passwords.RepetitionValidator", "OPTIONS": {"min_distinct": 10}},
]
# django-axes counts failed logins in the database, so the count holds across gunicorn workers and restarts;
# its backend goes first and refuses a locked account or address before the password is even checked.
# Failures are counted per account and, separately, per client address ("username" OR "ip_address"): a guesser
# cycling addresses is stopped by the first, one spraying many accounts by the second. A correct login resets
# the counts of that account and address. Unlock: the admin's "Access attempts" page, or
# `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS`; or wait out the cool-off.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SKINFLOW_LOGIN_FAILURE_LIMIT", 5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(f"SKINFLOW_LOGIN_FAILURE_LIMIT must be 1 or more, got {AXES_FAILURE_LIMIT}")
# 0: a locked account or address stays locked until an admin unlocks it.
_cooloff_minutes = env_int("SKINFLOW_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes > 0 else None
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "webapp.auth_views.lockout_response"  # the login page again, with the reason (429)
AXES_CLIENT_IP_CALLABLE = "webapp.net.client_ip"
# How many proxies in front of gunicorn append to X-Forwarded-For. 0: the connection's address is the client's
# (X-Forwarded-For is ignored: a client could write anything there). With DJANGO_HTTPS=1 a TLS proxy is in front.
SKINFLOW_TRUSTED_PROXY_COUNT = env_int("SKINFLOW_TRUSTED_PROXY_COUNT", 1 if HTTPS else 0)
# API tokens (django-rest-knox): only a SHA-512 digest is stored; a token dies at its expiry, at
# POST /api/auth/logout/ (that token), POST /api/auth/logout-all/ or a browser logout (all of the user's).
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("SKINFLOW_TOKEN_HOURS", 12)),  # like sessions: within a working day
    "AUTO_REFRESH": False,  # a fixed lifetime: a stolen token is not kept alive by using it
    "AUTH_HEADER_PREFIX": "Token",
}
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
        "webapp.tokens.ExpiringTokenAuthentication",  # knox digests; `Authorization: Token <key>`
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
    # Issue 12, part F (schemathesis): the schema also lists the errors every operation can answer (400, 401,
    # 403, 404); the enum hook is drf-spectacular's default, kept.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "webapp.api_schema.document_error_responses"],
}

# --- Content-Security-Policy (issue 12, part 4; django-csp 4) ---------------------------------------------------
# No inline script anywhere: page scripts are static files; the one inline block left (Swagger UI's start-up
# script, webapp/templates/drf_spectacular/swagger_ui.html) carries the request's nonce. Styles: 'self' plus the
# nonce too (Swagger UI's and our templates hold no style="" attribute; bar widths are set from data-width by
# webapp/static/webapp/page.js through the CSSOM, which CSP allows), so no 'unsafe-inline' at all.
# img-src data: is for Swagger UI's icons (data: URIs in its CSS); plots are same-origin SVG files.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
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

# --- Access audit trail (issue 12, part 5: webapp/audit.py) --------------------------------------------------
# Events older than this many days are pruned by the reaper loop (hourly) or `manage.py prune_access_events`;
# 0 keeps them for ever. Default 6 years (2190 days): HIPAA's retention for required documentation, and within
# what most health-record rules ask of access logs; set your jurisdiction's rule.
SKINFLOW_AUDIT_RETENTION_DAYS = env_int("SKINFLOW_AUDIT_RETENTION_DAYS", 2190)
# The client address is the login throttle's (webapp.net.client_ip, SKINFLOW_TRUSTED_PROXY_COUNT above).

# --- LLM endpoints --------------------------------------------------------------------------------------
# Defaults for every role; per-role variables (SKINFLOW_JUDGE_BASE_URL, ...) and LLMEndpoint rows in
# the database override them. Keys are never stored: only the NAME of the variable that holds one.
SKINFLOW_LLM_BASE_URL = os.environ.get("SKINFLOW_LLM_BASE_URL", "http://127.0.0.1:8009/v1")
SKINFLOW_LLM_MODEL = os.environ.get("SKINFLOW_LLM_MODEL", "Qwen2.5-VL-7B-Instruct")
# Empty: the endpoint needs no key (a local vLLM). For hosted APIs set e.g. SKINFLOW_LLM_API_KEY_ENV=OPENAI_API_KEY.
SKINFLOW_LLM_API_KEY_ENV = os.environ.get("SKINFLOW_LLM_API_KEY_ENV", "")
SKINFLOW_LLM_CACHE = os.environ.get("SKINFLOW_LLM_CACHE", str(DATA_DIR / "llm-cache.sqlite3"))

# --- Egress allowlists (issue 12, part C: webapp/egress.py) ----------------------------------------------
# Loopback, link-local, private and other non-public addresses are refused as LLM/evaluation endpoints and
# Ray clusters (after DNS, at save and at call) unless listed here: comma-separated host names, addresses
# and CIDR networks, each with an optional :port ("vllm:8000,10.0.0.0/8,[fd00::5]:8000"). The default
# allows only the default local endpoint. Read from the environment so the verl driver and Ray jobs,
# which run without Django, apply the same lists.
from webapp.egress import DEFAULT_ENDPOINT_HOSTS  # noqa: E402 - pure module, no Django: "127.0.0.1:8009,localhost:8009"

SKINFLOW_ALLOWED_ENDPOINT_HOSTS = os.environ.get("SKINFLOW_ALLOWED_ENDPOINT_HOSTS", DEFAULT_ENDPOINT_HOSTS)
# Ray clusters get their own list, deny by default, public hosts included: a Ray dashboard runs any job it
# is sent, so only "auto" (the worker's own local cluster) and hosts listed here are used, and it never
# doubles as an LLM endpoint an admin can aim requests at.
SKINFLOW_ALLOWED_RAY_HOSTS = os.environ.get("SKINFLOW_ALLOWED_RAY_HOSTS", "")
# Key variables tied to the hosts their keys may be sent to: "OPENAI_API_KEY=api.openai.com;MY_API_KEY=llm:8000".
# A key variable not listed here is only sent to hosts in SKINFLOW_ALLOWED_ENDPOINT_HOSTS. Over plain http a key
# goes only to a host in SKINFLOW_ALLOWED_ENDPOINT_HOSTS; to a Ray cluster only if its host is listed for the key.
# Malformed entries fail `manage.py check` (webapp.E012, webapp/egress.py check_settings).
SKINFLOW_KEY_ENV_HOSTS = os.environ.get("SKINFLOW_KEY_ENV_HOSTS", "")

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
