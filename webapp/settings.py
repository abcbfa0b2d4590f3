"""Django settings for SyncLab, from environment variables with defaults for the embedded demo."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SYNCLAB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The embedded demo runs on localhost only; a deployment must set its own key (docker-compose does).
SECRET_KEY = os.environ.get("SECRET_KEY", "synclab-embedded-demo-only-not-for-deployment")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "webapp",
    "webapp.jobs",
    "annotation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "webapp.accel.AccelRedirectMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "webapp.api_errors.JsonApiErrorsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.ratelimits.RateLimitMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'synclab.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one SQLite file: WAL lets readers go on during a
    # write, IMMEDIATE transactions plus a timeout turn lock contention into waiting, not errors.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: job files go through an ownership check
# Behind nginx, the internal location that serves MEDIA_ROOT (webapp.accel): Django checks who may
# have a file, nginx sends it. Empty: Django streams files itself (the embedded demo).
SYNCLAB_ACCEL_REDIRECT = os.environ.get("SYNCLAB_ACCEL_REDIRECT", "")
WHITENOISE_USE_FINDERS = True  # serve static without collectstatic in the embedded demo

# Upload limits: Django's own caps guard memory; SYNCLAB_* are the media checks of every upload.
SYNCLAB_UPLOAD_MAX_BYTES = int(os.environ.get("SYNCLAB_UPLOAD_MAX_BYTES", 200 * 2**20))
# One request's whole body (all its files together), refused while it streams (webapp.body_limit):
# Django's ASGI handler stores a body on disk before any view can look at it.
SYNCLAB_UPLOAD_MAX_REQUEST_BYTES = int(
    os.environ.get("SYNCLAB_UPLOAD_MAX_REQUEST_BYTES", SYNCLAB_UPLOAD_MAX_BYTES + 56 * 2**20)
)
SYNCLAB_UPLOAD_MAX_SECONDS = float(os.environ.get("SYNCLAB_UPLOAD_MAX_SECONDS", 600))
SYNCLAB_UPLOAD_MAX_SIDE = int(os.environ.get("SYNCLAB_UPLOAD_MAX_SIDE", 3840))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20
# Every upload goes to a temporary file (ffprobe needs a path, and memory stays flat), and stops
# at SYNCLAB_UPLOAD_MAX_BYTES while the body streams in.
FILE_UPLOAD_HANDLERS = ["webapp.jobs.uploads.SizeLimitedUploadHandler"]
# On MEDIA_ROOT's file system, so that a job's input is a hard link to its upload, never a second
# copy of its bytes (webapp.jobs.services.store_once); the jobs app creates the folder at start.
FILE_UPLOAD_TEMP_DIR = MEDIA_ROOT / "uploads"

SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)  # true behind HTTPS
SESSION_COOKIE_DOMAIN = os.environ.get("SESSION_COOKIE_DOMAIN") or None

# The cache holds rate-limit counts: Redis where several web processes must share them
# (SYNCLAB_CACHE_URL, e.g. redis://redis:6379/1), else this process's memory (the embedded demo).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": cache_url}
        if (cache_url := os.environ.get("SYNCLAB_CACHE_URL"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Rate limits (webapp.ratelimits), "N/s|m|h|d" or empty for none. Raters in one lab share an
# address, so the per-address rater limit is far above what one person can post.
SYNCLAB_RATE_JOBS_SESSION = os.environ.get("SYNCLAB_RATE_JOBS_SESSION", "20/m")
SYNCLAB_RATE_JOBS_IP = os.environ.get("SYNCLAB_RATE_JOBS_IP", "60/m")
SYNCLAB_RATE_RATER_SESSION = os.environ.get("SYNCLAB_RATE_RATER_SESSION", "120/m")
SYNCLAB_RATE_RATER_IP = os.environ.get("SYNCLAB_RATE_RATER_IP", "3000/m")
# Behind the reverse proxy every request comes from the proxy: the client's address is the
# header it sets (docker-compose: HTTP_X_REAL_IP).
if os.environ.get("SYNCLAB_CLIENT_IP_META"):
    RATELIMIT_IP_META_KEY = os.environ["SYNCLAB_CLIENT_IP_META"]

# Demo events of one tab that run at once: each only queues its job and then polls it, so this
# bounds memory; below the number of visitors who click together, the rest wait to be queued.
SYNCLAB_DEMO_EVENT_CONCURRENCY = int(os.environ.get("SYNCLAB_DEMO_EVENT_CONCURRENCY", 200))

# Celery: Redis in production; the embedded demo uses kombu's filesystem transport (no server).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
SYNCLAB_BROKER_DIR = Path(os.environ.get("SYNCLAB_BROKER_DIR", VAR_DIR / "broker"))
SYNCLAB_TASK_SOFT_LIMIT = int(os.environ.get("SYNCLAB_TASK_SOFT_LIMIT", 1800))
SYNCLAB_TASK_HARD_LIMIT = int(os.environ.get("SYNCLAB_TASK_HARD_LIMIT", 1900))
# Redis hands an unacknowledged job to another worker after this long; it must exceed the hard
# limit, or a job still running would be started twice.
SYNCLAB_BROKER_VISIBILITY_TIMEOUT = int(
    os.environ.get("SYNCLAB_BROKER_VISIBILITY_TIMEOUT", SYNCLAB_TASK_HARD_LIMIT + 60)
)

# Models a worker keeps loaded (least recently used evicted beyond this many bytes of weights),
# and where they run: "cuda" on a GPU worker, "cpu" otherwise ("auto" picks).
SYNCLAB_MODEL_CACHE_BYTES = int(os.environ.get("SYNCLAB_MODEL_CACHE_BYTES", 4 * 2**30))
SYNCLAB_DEVICE = os.environ.get("SYNCLAB_DEVICE", "auto")
# Evaluation corpora (SynthGrid or LRS layout), one folder each; evaluate jobs name them.
SYNCLAB_EVAL_CORPORA_DIR = Path(os.environ.get("SYNCLAB_EVAL_CORPORA_DIR", VAR_DIR / "corpora"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
