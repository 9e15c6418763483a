"""Settings of the test project, all from the environment (see the package docstring)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

_dsn = urlsplit(os.environ.get("DJRT_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
_options: dict[str, object] = {"application_name": os.environ.get("DJRT_APP", "djrt"), "connect_timeout": 5}
if os.environ.get("DJRT_POOL"):
    _options["pool"] = {"min_size": int(os.environ.get("DJRT_POOL_MIN", "1")),
                        "max_size": int(os.environ["DJRT_POOL"]), "timeout": 5}

SECRET_KEY = "djrt-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djrt_site.urls"
USE_TZ = True
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["poolwarden.runtime.django.middleware.TransientErrorMiddleware", "djrt_site.middleware.Lookup"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(_dsn.path.lstrip("/")),
        "USER": unquote(_dsn.username or ""),
        "PASSWORD": unquote(_dsn.password or ""),
        "HOST": _dsn.hostname or "",
        "PORT": str(_dsn.port or ""),
        "CONN_MAX_AGE": int(os.environ.get("DJRT_CONN_MAX_AGE", "0")),
        "ATOMIC_REQUESTS": os.environ.get("DJRT_ATOMIC") == "1",
        "OPTIONS": _options,
    }
}
REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [], "DEFAULT_PERMISSION_CLASSES": [],
                  "UNAUTHENTICATED_USER": None}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"null": {"class": "logging.NullHandler"}},
           "loggers": {"django": {"handlers": ["null"], "propagate": False},
                       "poolwarden": {"handlers": ["null"], "propagate": False}}}
