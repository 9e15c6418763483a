"""Settings. The database comes from ``DATABASE_URL`` (``poolwarden drill`` sets it)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = ["billing", "poolwarden.runtime.django"]  # the app registers poolwarden's system checks
MIDDLEWARE = [
    # First, so that it sees every exception: a transient database error becomes 503 + Retry-After.
    "poolwarden.runtime.django.middleware.TransientErrorMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "voicebilling.urls"
ASGI_APPLICATION = "voicebilling.asgi.application"  # served by uvicorn
WSGI_APPLICATION = "voicebilling.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = urlsplit(os.environ.get("DATABASE_URL", "postgresql://billing@localhost:5432/voicebilling"))

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": unquote(_db.username or ""),
        "PASSWORD": unquote(_db.password or ""),
        "HOST": _db.hostname or "",
        "PORT": str(_db.port or ""),
        # No persistent connections: under ASGI every request runs on a thread of its own, and a
        # connection kept per thread is never closed (Django ticket 33497). For a pool, use Django's
        # own, bounded: "OPTIONS": {"pool": {"max_size": 4, "timeout": 2}, ...} (then CONN_MAX_AGE 0).
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 5},
    }
}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "billing@voice.example"
PAYMENTS_API_URL = os.environ.get("PAYMENTS_API_URL", "http://127.0.0.1:9/payments")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
