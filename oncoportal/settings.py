"""OncoPortal settings, read from the environment (see README "Configuration").

With nothing set, the platform runs embedded: SQLite, local files and a Celery
broker on kombu's filesystem transport, all under ``var/``. DATABASE_URL,
CELERY_BROKER_URL and ONCOPORTAL_STORAGE=s3 switch to PostgreSQL, Redis and S3.
ONCOPORTAL_PRODUCTION=1 removes every insecure default.
"""

from __future__ import annotations

import base64 as _base64
import shlex as _shlex
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from oncoportal import celery_config as _celery
from oncoportal.env import (
    SQLITE_OPTIONS,
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_hosts,
    env_int,
    env_list,
    env_seconds,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = env_bool("ONCOPORTAL_PRODUCTION", False)

VAR_DIR = Path(env_str("ONCOPORTAL_VAR_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR = Path(env_str("ONCOPORTAL_DATA_DIR", str(BASE_DIR.parent / "shared" / "data"))).resolve()
MODELS_DIR = Path(env_str("ONCOPORTAL_MODELS_DIR", str(BASE_DIR / "inference" / "bundles"))).resolve()
# The site that holds the imported base (training) data (`manage.py import_base_data`): its
# cases are labelled already, so they are never queued for prediction nor shown on the worklist.
BASE_DATA_SITE = env_str("ONCOPORTAL_BASE_DATA_SITE", "base-data").strip()

# --- Security ---------------------------------------------------------------
_DEV_SECRET_KEY = "dev-insecure-3k1t9v0w8x7y6z5a4b3c2d1e0f9g8h7i6j5k4l3m2n1o0p"
_DEV_PSEUDONYM_KEY = "oncoportal-development-pseudonym-key"
if PRODUCTION:
    # No defaults: a missing, short or public key fails at start-up with one line.
    SECRET_KEY = env_secret("SECRET_KEY", min_chars=50, not_equal={"the development key": _DEV_SECRET_KEY})
    DEBUG = env_bool("DEBUG", False)
    ALLOWED_HOSTS = env_hosts("ALLOWED_HOSTS")
    # HMAC key for patient pseudonyms; losing it breaks linking of new studies
    # to existing patients, so it is required and never derived from SECRET_KEY.
    PSEUDONYM_KEY = env_secret(
        "ONCOPORTAL_PSEUDONYM_KEY",
        not_equal={"SECRET_KEY": SECRET_KEY, "the development key": _DEV_PSEUDONYM_KEY},
    )
else:
    SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
    DEBUG = env_bool("DEBUG", True)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
    PSEUDONYM_KEY = env_str("ONCOPORTAL_PSEUDONYM_KEY", _DEV_PSEUDONYM_KEY)

# Fernet key that encrypts what re-identifies a study for a result destination
# (results.identity, docs/reidentification.md). Production: no default, so with
# none set nothing identifying is kept and no destination can be enabled; the
# development default is public, fit for demo data only.
REID_KEY = env_str(
    "ONCOPORTAL_REID_KEY", "" if PRODUCTION else "ZGV2ZWxvcG1lbnQtb25seS1yZWlkLWtleS0wMDAwMDA="
).strip()
try:  # a malformed key fails at start, not on the first upload that would keep an identity
    if REID_KEY and len(_base64.urlsafe_b64decode(REID_KEY.encode("ascii"))) != 32:
        raise ValueError
except (ValueError, UnicodeEncodeError):
    raise ImproperlyConfigured(
        "ONCOPORTAL_REID_KEY: a Fernet key (32 random bytes, urlsafe base64) is expected"
    ) from None

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("ONCOPORTAL_SESSION_SECONDS", 8 * 3600, minimum=60)
# django-axes: a username is locked after repeated wrong passwords (docs/security.md).
from oncoportal.sign_in_throttle import *  # noqa: E402,F403

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if env_bool("ONCOPORTAL_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"

# --- Applications -----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "cases",
    "inference",
    "api",
    "dimse",
    "dicomweb",
    "results",
    "curation",
    "retraining",
    "lifecycle",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "oncoportal.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "oncoportal.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by its backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "oncoportal.urls"
WSGI_APPLICATION = "oncoportal.wsgi.application"
ASGI_APPLICATION = "oncoportal.asgi.application"
AUTH_USER_MODEL = "cases.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cases:worklist"
LOGOUT_REDIRECT_URL = "login"

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
                "cases.context_processors.roles",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
_database_url = env_str("DATABASE_URL", "")
if _database_url:
    DATABASES = {"default": database_from_url(_database_url)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "oncoportal.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),  # concurrent writers (oncoportal/env.py)
            # A file, not :memory:, so a real worker process can share the test database.
            "TEST": {"NAME": str(VAR_DIR / "test-oncoportal.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
# Media is never served by URL: image views stream files after a permission check.
MEDIA_URL = "/media-not-served/"
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "tmp")
# The embedded defaults keep everything under VAR_DIR; create it on first use
# so a fresh checkout runs without a setup step.
for _sub in ("tmp", "media", "broker", "staticfiles"):
    (VAR_DIR / _sub).mkdir(parents=True, exist_ok=True)

STORAGE_BACKEND = env_choice("ONCOPORTAL_STORAGE", "local", ("local", "s3"))
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            "location": env_str("AWS_LOCATION", "oncoportal"),
            "default_acl": None,  # private objects: patient data
            "querystring_auth": True,
            "file_overwrite": True,  # re-running a task rewrites the same key
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Intake limits (see oncocore.imaging.limits) -------------------------------
INTAKE_MAX_REQUEST_BYTES = env_int("ONCOPORTAL_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1024)
INTAKE_MAX_PIXELS = env_int("ONCOPORTAL_MAX_PIXELS", 40_000_000, minimum=1)
INTAKE_MAX_FRAMES = env_int("ONCOPORTAL_MAX_FRAMES", 2000, minimum=1)
INTAKE_MAX_ZIP_ENTRIES = env_int("ONCOPORTAL_MAX_ZIP_ENTRIES", 10_000, minimum=1)
INTAKE_MAX_ZIP_BYTES = env_int("ONCOPORTAL_MAX_ZIP_BYTES", 8 * 1024**3, minimum=1)
INTAKE_MAX_ZIP_RATIO = env_int("ONCOPORTAL_MAX_ZIP_RATIO", 200, minimum=1)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("ONCOPORTAL_MAX_UPLOAD_FILES", 5000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # non-file form fields only
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # larger files spill to FILE_UPLOAD_TEMP_DIR
# De-identification: PS3.15 Basic profile + Retain UIDs (always), and these options.
DEID_RETAIN_FULL_DATES = env_bool("ONCOPORTAL_DEID_RETAIN_DATES", True)
DEID_RETAIN_PATIENT_CHARACTERISTICS = env_bool("ONCOPORTAL_DEID_RETAIN_PATIENT_CHARACTERISTICS", True)

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu polls the folder once a second by default: a second of latency per case.
        "polling_interval": 0.1,
    }
else:
    # Longer than the slowest task's hard limit, or Redis hands a running task to a second worker.
    _visibility = env_int(
        "CELERY_VISIBILITY_TIMEOUT", max(3600, 2 * _celery.longest_time_limit()), minimum=60
    )
    if _visibility <= _celery.longest_time_limit():
        raise ImproperlyConfigured(
            f"CELERY_VISIBILITY_TIMEOUT={_visibility} must exceed the longest task time limit "
            f"({_celery.longest_time_limit()} s), or Redis hands a running task to a second worker"
        )
    # "priority": a worker empties its -Q queues in the order given (celery_config.WORKERS),
    # so background work never goes before a queued prediction or try-out.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility, "queue_order_strategy": "priority"}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queues, routes and time limits: one table, oncoportal/celery_config.py (see docs/celery.md).
# The global limits apply to a task the table does not list; they equal run_predictions'.
CELERY_TASK_SOFT_TIME_LIMIT = _celery.TASKS[_celery.RUN_PREDICTIONS].soft_time_limit
CELERY_TASK_TIME_LIMIT = _celery.TASKS[_celery.RUN_PREDICTIONS].time_limit
CELERY_TASK_DEFAULT_QUEUE = _celery.DEFAULT
CELERY_TASK_ROUTES = _celery.routes()
# How long a worker that lost its database mid-task keeps trying to put its claimed rows back
# (then the task is retried): a PostgreSQL restart or failover takes seconds.
DATABASE_RECONNECT_WAIT = env_int("ONCOPORTAL_DATABASE_RECONNECT_WAIT", 120, minimum=0)
# The sweeper re-sends predictions queued longer than this (a lost message).
PREDICTION_REQUEUE_AFTER = env_int("ONCOPORTAL_REQUEUE_AFTER", 600, minimum=30)
# A running prediction whose worker has not beaten its heartbeat (every 5 s) for this long
# lost its worker: the sweeper queues it again (inference.claims).
PREDICTION_HEARTBEAT_STALE_S = env_int("ONCOPORTAL_HEARTBEAT_STALE", 30, minimum=10)
# A received case whose images have had no prediction for the task's active model for this
# long lost its queueing (the intake's after-commit handler failed): the sweeper queues it.
PREDICTION_CASE_SWEEP_AFTER = env_int("ONCOPORTAL_CASE_SWEEP_AFTER", 60, minimum=10)
# Try-outs (one image through a model, not a case) are deleted this long after upload.
TRYOUT_TTL_SECONDS = env_int("ONCOPORTAL_TRYOUT_TTL", 3600, minimum=60)
CELERY_BEAT_SCHEDULE = _celery.beat_schedule()
# Inference device: auto picks cuda, then mps, then cpu.
INFERENCE_DEVICE = env_choice("ONCOPORTAL_DEVICE", "auto", ("auto", "cuda", "mps", "cpu"))
INFERENCE_BATCH_SIZE = env_int("ONCOPORTAL_BATCH_SIZE", 16, minimum=1)
# Loaded ensembles a worker process keeps (least recently used dropped first): the clinical
# one plus shadow/evaluation/drift ensembles that take turns with it.
PREDICTOR_CACHE_SIZE = env_int("ONCOPORTAL_PREDICTOR_CACHE", 3, minimum=1)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Drift watch (docs/drift.md): ISO weeks of recent cases compared, how long the status is cached,
# and at most how many validation images a model's reference scores.
DRIFT_WEEKS = env_int("ONCOPORTAL_DRIFT_WEEKS", 4, minimum=1)
DRIFT_REFERENCE_LIMIT = env_int("ONCOPORTAL_DRIFT_REFERENCE_LIMIT", 600, minimum=30)
DRIFT_CACHE_SECONDS = env_int("ONCOPORTAL_DRIFT_CACHE_SECONDS", 300, minimum=0)
# Retraining jobs (retraining/, the "training" queue): trainer processes per job (0: one per
# visible CUDA GPU, else 1; above 1 under torchrun), how long a silent job keeps its worker,
# when a queued job's message counts as lost, and how long a cancelled trainer may take to stop.
TRAINING_NPROC = env_int("ONCOPORTAL_TRAINING_NPROC", 0, minimum=0)
TRAINING_HEARTBEAT_TIMEOUT = env_int("ONCOPORTAL_TRAINING_HEARTBEAT_TIMEOUT", 120, minimum=10)
TRAINING_REQUEUE_AFTER = env_int("ONCOPORTAL_TRAINING_REQUEUE_AFTER", 3600, minimum=30)
TRAINING_CANCEL_GRACE = env_int("ONCOPORTAL_TRAINING_CANCEL_GRACE", 30, minimum=1)
# Trainer flags this node adds to every job after the recipe's (which they override), e.g.
# "--workers 8 --batch-size 64" on a large GPU; python -m oncocore.training.train --help lists them.
TRAINING_EXTRA_ARGS = _shlex.split(env_str("ONCOPORTAL_TRAINING_EXTRA_ARGS", ""))
# Run folders (snapshot copy, checkpoints, logs) and the candidate bundles jobs register, under
# VAR_DIR: the volume that training nodes and inference workers share (MODELS_DIR is the
# shipped bundles, inside the image; register_models does not look into sub-folders anyway).
TRAINING_DIR = VAR_DIR / "training"
TRAINING_CANDIDATES_DIR = Path(
    env_str("ONCOPORTAL_CANDIDATES_DIR", str(VAR_DIR / "models" / "candidates"))
).resolve()
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The promotion gate (docs/promotion.md): how much worse than the champion a candidate may be.
PROMOTE_MARGIN_MACRO_F1 = env_float("ONCOPORTAL_PROMOTE_MARGIN_MACRO_F1", 0.02, minimum=0.0, maximum=1.0)
PROMOTE_MARGIN_SENSITIVITY = env_float(
    "ONCOPORTAL_PROMOTE_MARGIN_SENSITIVITY", 0.02, minimum=0.0, maximum=1.0
)

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    # Integrations send a bearer token; the browser's session works too (with CSRF).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ApiAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "oncoportal.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests a minute per token (a token may carry its own rate), and rejected tokens a
# minute per client address before it gets 429s.
API_RATE_PER_MINUTE = env_int("ONCOPORTAL_API_RATE", 600, minimum=1)
API_AUTH_FAILURES_PER_MINUTE = env_int("ONCOPORTAL_API_AUTH_FAILURES", 30, minimum=1)
API_TOKEN_DEFAULT_DAYS = env_int("ONCOPORTAL_API_TOKEN_DAYS", 90, minimum=1)
# Absolute links in what leaves the server (webhook payloads): the address integrations reach it at.
PUBLIC_BASE_URL = env_str("ONCOPORTAL_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Webhooks (docs/webhooks.md): seconds to wait for a receiver, the waits between attempts
# (seconds, comma-separated; one more attempt than waits), and how long a subscription may
# fail every delivery before it is disabled.
WEBHOOK_TIMEOUT_SECONDS = env_int("ONCOPORTAL_WEBHOOK_TIMEOUT", 10, minimum=1)
WEBHOOK_RETRY_SCHEDULE = env_seconds(
    "ONCOPORTAL_WEBHOOK_RETRIES", ["30", "120", "480", "1800", "7200", "21600"]
)
WEBHOOK_DISABLE_AFTER = env_int("ONCOPORTAL_WEBHOOK_DISABLE_AFTER", 24 * 3600, minimum=60)
# The DICOM DIMSE listener (`manage.py dicom_listener`, docs/dimse.md): its AE title and
# port, the calling AE titles it accepts (each `AE` or `AE@host`; empty accepts anyone
# outside production and no one in production), the site received studies belong to
# (required to run it), and how long a study may see no new instance before it is closed.
DICOM_AE_TITLE = env_str("ONCOPORTAL_DICOM_AE_TITLE", "ONCOPORTAL").strip()
if not 1 <= len(DICOM_AE_TITLE) <= 16 or "\\" in DICOM_AE_TITLE:
    raise ImproperlyConfigured("ONCOPORTAL_DICOM_AE_TITLE: 1 to 16 characters, no backslash")
DICOM_PORT = env_int("ONCOPORTAL_DICOM_PORT", 11112, minimum=1)
if DICOM_PORT > 65535:
    raise ImproperlyConfigured(f"ONCOPORTAL_DICOM_PORT={DICOM_PORT}: at most 65535")
DICOM_ALLOWED = env_list("ONCOPORTAL_DICOM_ALLOWED", [])
DICOM_SITE = env_str("ONCOPORTAL_DICOM_SITE", "").strip()
DICOM_QUIET_SECONDS = env_int("ONCOPORTAL_DICOM_QUIET_SECONDS", 30, minimum=1)
DICOM_SPOOL_DIR = VAR_DIR / "dicom-spool"
# Result objects (docs/results.md): the review SR names who decided only when this is on;
# otherwise it says the role ("Radiologist", "Curator (adjudication)") and when.
RESULTS_REVIEWER_NAMES = env_bool("ONCOPORTAL_RESULTS_REVIEWER_NAMES", False)

# Results to the PACS (docs/results-delivery.md): build the result objects on each prediction
# and review (they are served by WADO-RS even without a destination), the waits between
# sending attempts (seconds, comma-separated; one more attempt than waits), and how long
# one association or STOW-RS request may take.
RESULTS_BUILD = env_bool("ONCOPORTAL_RESULTS_BUILD", True)
RESULTS_RETRY_SCHEDULE = env_seconds(
    "ONCOPORTAL_RESULTS_RETRIES", ["60", "300", "900", "3600", "14400", "43200"]
)
RESULTS_TIMEOUT_SECONDS = env_int("ONCOPORTAL_RESULTS_TIMEOUT", 30, minimum=1)

# fsync each spooled instance before answering its C-STORE (dimse/spool.py says what it costs).
DICOM_SPOOL_FSYNC = env_bool("ONCOPORTAL_DICOM_SPOOL_FSYNC", False)
# The OpenAPI schema's title, description and enum names (drf-spectacular).
from oncoportal.api_schema import SPECTACULAR_SETTINGS  # noqa: E402,F401

# The throttle counters (and other short-lived values) must be shared by every web
# process: Redis when the broker is Redis, else files under var/.
_cache_url = env_str(
    "ONCOPORTAL_CACHE_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
if _cache_url:
    # A Redis outage is a cache miss, not a 500 (oncoportal/cache.py).
    from oncoportal.cache import redis_cache

    CACHES = {"default": redis_cache(_cache_url)}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Console logging: one line per record; a 403 is one line, not a traceback.
from oncoportal.logging_config import LOGGING  # noqa: E402,F401
