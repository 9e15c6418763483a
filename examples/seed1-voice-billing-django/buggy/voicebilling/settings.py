"""Settings. The database comes from ``DATABASE_URL`` (``poolwarden drill`` sets it)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = ["billing"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "voicebilling.urls"
ASGI_APPLICATION = "voicebilling.asgi.application"  # served by uvicorn
WSGI_APPLICATION = "voicebilling.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = urlsplit(os.environ.get("DATABASE_URL", "postgresql://billing@localhost:5432/voicebilling"))

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # expect: PW106
        "NAME": _db.path.lstrip("/"),
        "USER": unquote(_db.username or ""),
        "PASSWORD": unquote(_db.password or ""),
        "HOST": _db.hostname or "",
        "PORT": str(_db.port or ""),
        # Keep connections for a minute instead of reconnecting for every request.
        "CONN_MAX_AGE": 60,  # expect: PW109
    }
}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "billing@voice.example"
PAYMENTS_API_URL = os.environ.get("PAYMENTS_API_URL", "http://127.0.0.1:9/payments")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
