"""PW110 default-django-pool: Django's native pool (``OPTIONS["pool"]``) left to psycopg_pool's defaults."""

from __future__ import annotations

from poolwarden.check.django_settings import SettingsRule
from poolwarden.check.rule import example


class DefaultDjangoPool(SettingsRule):
    CODE = "PW110"
    NAME = "default-django-pool"
    SUMMARY = "Django's native pool (`OPTIONS[\"pool\"]`) without `max_size` and `timeout`."
    WHAT = """
Flags, on its `"pool"` key, a `DATABASES` entry whose `OPTIONS["pool"]` turns on Django 5.1's native
psycopg pool (`True`, or a dict of `psycopg_pool.ConnectionPool` arguments) without `max_size` or without
`timeout`. It reads entries as PW109 does: dict displays, later writes (`DATABASES["default"]["OPTIONS"]
["pool"] = {...}`), values from the environment with a literal default (judged on the default, naming
the variable). A pool the code computes, and entries of another database, are not judged; an entry
whose pool another module sets (split settings) is judged there.

A warning: the pool works, with sizes and a wait chosen for no one.
"""
    WHY = """
Django hands the dict to `psycopg_pool.ConnectionPool`; `True` means no arguments. Its defaults are
`min_size = 4`, `max_size = min_size` (so 4 connections per process) and `timeout = 30` seconds. A
process serving more concurrent requests than that (gunicorn threads, ASGI's thread per request, Celery
threads) makes the others wait for a connection, each up to 30 s before `PoolTimeout` — a request
hangs half a minute instead of failing fast with a 503 — and every process holds its own pool, so the
server's total is processes × `max_size`, which no one wrote down (`poolwarden budget` adds it up).
"""
    EXAMPLE = """
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": True},
    }
}
"""
    USE_INSTEAD = """
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": {"min_size": 2, "max_size": 10, "timeout": 5}},
    }
}
"""
    SEVERITY = "warning"

    VALID = [
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": {"min_size": 2, "max_size": 10, "timeout": 5}},
    }
}
"""),
        example("""
import os

POOL = {"max_size": int(os.environ.get("DB_POOL_MAX", "10")), "timeout": 5}
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": POOL},
    }
}
""", note="the pool's arguments through a module-level name"),
        example("""
from .pools import pool_options

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": pool_options()},
    }
}
""", note="near miss: a pool the code computes is not judged",
            pools="def pool_options():\n    return {'max_size': 10, 'timeout': 5}\n"),
        example("""
import environ

env = environ.Env()
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": env.bool("DB_POOL", default=False)},
    }
}
""", note="near miss: no pool unless the environment turns it on"),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": True},
    }
}
""", note="split settings: production.py bounds the pool of this base entry",
            production="from .example import *  # noqa: F403\n\n"
                       "DATABASES['default']['OPTIONS']['pool'] = {'max_size': 10, 'timeout': 5}\n"),
    ]
    INVALID = [
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {
            "connect_timeout": 5,
            "pool": True,  # error
        },
    }
}
"""),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5, "pool": {"min_size": 4, "max_size": 16}},  # error
    }
}
""", note="a size, but a request still waits psycopg_pool's 30 s"),
        example("""
from .base import *  # noqa: F403

DATABASES["default"]["OPTIONS"]["pool"] = {"max_size": 20}  # error
""", note="split settings: production.py turns the pool on in base.py's entry",
            base="DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'app', "
                 "'OPTIONS': {'connect_timeout': 5}}}\n"),
        example("""
import environ

env = environ.Env()
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 5, "pool": env.bool("DB_POOL", default=True)}  # error
""", note="the pool is on unless the environment turns it off (its default is judged)"),
    ]
