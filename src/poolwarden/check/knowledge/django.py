"""Django's database settings: the names, engines, defaults and ASGI markers PW106, PW109 and PW110 judge by.

Promises: the ``DATABASES`` keys the settings rules read and Django's defaults for them, the
PostgreSQL engines, the helpers that build an entry from a URL (dj-database-url, django-environ) and
the keyword arguments they turn into keys, the readers of environment variables whose literal default
stands for the value, psycopg_pool's defaults behind ``OPTIONS["pool"]``, and what in Python code tells
that a project serves ASGI. Data only.
"""

from __future__ import annotations

from typing import Final

# -- the settings ------------------------------------------------------------------------------------
DJANGO_ENGINE: Final = "ENGINE"
DJANGO_OPTIONS: Final = "OPTIONS"
CONN_MAX_AGE: Final = "CONN_MAX_AGE"
CONN_HEALTH_CHECKS: Final = "CONN_HEALTH_CHECKS"
# Django's defaults (django.db.utils.ConnectionHandler.configure_settings).
DJANGO_DEFAULTS: Final = {CONN_MAX_AGE: 0, CONN_HEALTH_CHECKS: False}
# The PostgreSQL engines (``postgresql_psycopg2`` is the pre-3.0 name); PostGIS runs on the same backend.
DJANGO_POSTGRES_ENGINES: Final = frozenset(
    {"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2",
     "django.contrib.gis.db.backends.postgis"}
)
# Words in a third-party engine that wraps PostgreSQL's (django-prometheus, django-tenants, pool backends).
DJANGO_POSTGRES_ENGINE_WORDS: Final = ("postgres", "postgis")
# Helpers that build a whole entry from a URL (its query string becomes OPTIONS), with the keyword
# arguments each turns into an entry key. Each is PostgreSQL unless its literal URL or engine says otherwise.
DJANGO_URL_ENTRY_BUILDERS: Final = {
    "dj_database_url.config": {"conn_max_age": CONN_MAX_AGE, "conn_health_checks": CONN_HEALTH_CHECKS,
                               "engine": DJANGO_ENGINE},
    "dj_database_url.parse": {"conn_max_age": CONN_MAX_AGE, "conn_health_checks": CONN_HEALTH_CHECKS,
                              "engine": DJANGO_ENGINE},
    "environ.Env.db": {"engine": DJANGO_ENGINE},
    "environ.Env.db_url": {"engine": DJANGO_ENGINE},
    "environ.Env.db_url_config": {"engine": DJANGO_ENGINE},
}
# django-environ's reader, by the attribute called on it when the code does not say it is an ``environ.Env``
# (``env = environ.Env()`` then ``env.db()``): the receiver's name and the methods that build an entry.
ENVIRON_READER_NAMES: Final = frozenset({"env"})
ENVIRON_ENTRY_METHODS: Final = frozenset({"db", "db_url", "db_url_config"})

# -- values read from the environment -------------------------------------------------------------------
# Calls whose first argument names an environment variable and whose default is given at this index
# (None: only as ``default=``); the literal default is the value when the variable is unset.
ENV_READERS: Final = {"os.environ.get": 1, "os.getenv": 1, "decouple.config": None}
# django-environ's typed readers (``env.int("X", default=60)``, ``env("X", default=60)``).
ENVIRON_TYPED_READERS: Final = frozenset({"int", "bool", "str", "float"})

# -- Django 5.1's native pool: OPTIONS["pool"] = True or the keyword arguments of psycopg_pool.ConnectionPool ----
DJANGO_POOL_OPTION: Final = "pool"
DJANGO_POOL_BOUNDS: Final = ("max_size", "timeout")
# psycopg_pool.ConnectionPool's defaults for those keys, as said in a message.
DJANGO_POOL_DEFAULTS: Final = {"max_size": "min_size (4 by default) per process", "timeout": "30 s"}

# -- libpq's environment: a project that sets it gives every connect a timeout --------------------------
LIBPQ_TIMEOUT_ENV: Final = "PGCONNECT_TIMEOUT"

# -- what tells that a Django project serves ASGI (in Python code) ------------------------------------------
ASGI_SETTING: Final = "ASGI_APPLICATION"
INSTALLED_APPS: Final = "INSTALLED_APPS"
ASGI_APPS: Final = frozenset({"channels", "daphne"})  # apps that serve the project over ASGI
ASGI_SERVER_CALLS: Final = frozenset(
    {"uvicorn.run", "uvicorn.Server", "hypercorn.asyncio.serve", "hypercorn.trio.serve",
     "channels.routing.ProtocolTypeRouter", "daphne.server.Server"}
)
ASGI_WORKER_CLASSES: Final = ("uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker",
                              "uvicorn_worker.UvicornWorker")
# Words one of which a module must hold to say anything of the above (a substring test before a walk).
ASGI_TOKEN_WORDS: Final = (b"sgi_application", b"ASGI_APPLICATION", b"INSTALLED_APPS", b"uvicorn", b"Uvicorn",
                           b"ProtocolTypeRouter", b"hypercorn", b"daphne")
ASGI_APP_FACTORY: Final = "django.core.asgi.get_asgi_application"
WSGI_APP_FACTORY: Final = "django.core.wsgi.get_wsgi_application"
