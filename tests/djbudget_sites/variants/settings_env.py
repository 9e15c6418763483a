"""Every number read from the environment, with literal defaults."""

import os

import environ
from decouple import config

env = environ.Env()

SECRET_KEY = os.environ.get("SECRET_KEY", "not-a-secret")
POOL_MAX = env.int("DB_POOL_MAX", default=6)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env("DB_NAME", default="shop"),
        "OPTIONS": {
            "connect_timeout": config("DB_CONNECT_TIMEOUT", cast=int, default=5),
            "pool": {"min_size": int(os.getenv("DB_POOL_MIN", "1")), "max_size": POOL_MAX},
        },
    },
}

CELERY_WORKER_CONCURRENCY = env.int("CELERY_CONCURRENCY", default=5)
