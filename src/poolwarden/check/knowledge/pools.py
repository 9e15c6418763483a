"""Connecting and pooling: the libpq-family connects and their timeouts, engines, pools and their sizes.

Promises: the constructors PW106 asks for a connect timeout (and where Django and Flask-SQLAlchemy keep
their options), the pools whose size is set (PW103), the library's pool defaults, and the functions
that run once per process or dispose cached engines (PW107). Data only.
"""

from __future__ import annotations

from typing import Final

# -- connect timeouts (PW106) ---------------------------------------------------------------------
LIBPQ_CONNECTS: Final = frozenset(
    {
        "psycopg.connect", "psycopg.Connection.connect", "psycopg.AsyncConnection.connect",
        "psycopg2.connect", "psycopg2cffi.connect", "aiopg.connect", "aiopg.create_pool",
    }
)
LIBPQ_POOLS: Final = frozenset(
    {
        "psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool",
        "psycopg_pool.NullConnectionPool", "psycopg_pool.AsyncNullConnectionPool",
        "psycopg2.pool.SimpleConnectionPool", "psycopg2.pool.ThreadedConnectionPool",
        "psycopg2.pool.PersistentConnectionPool",
    }
)
SQLALCHEMY_ENGINES: Final = frozenset(
    {
        "sqlalchemy.create_engine", "sqlalchemy.engine.create_engine",
        "sqlalchemy.ext.asyncio.create_async_engine", "sqlmodel.create_engine",
    }
)
# Flask-SQLAlchemy's extension: it makes the engine from the app config and its ``engine_options``.
FLASK_SQLALCHEMY: Final = frozenset({"flask_sqlalchemy.SQLAlchemy"})
FLASK_ENGINE_OPTIONS: Final = "SQLALCHEMY_ENGINE_OPTIONS"  # the app-config key of its engine options
SYNC_ENGINES: Final = frozenset(
    {"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlmodel.create_engine"}
)
# The connect option PW106 looks for (in keywords, dict keys, DSNs and URL queries).
CONNECT_TIMEOUT_WORD: Final = "connect_timeout"
# SQLAlchemy URL schemes of an asynchronous libpq driver: an async engine is not always asyncpg.
LIBPQ_ASYNC_SCHEMES: Final = frozenset({"postgresql+psycopg", "postgresql+psycopg_async"})
# psycopg2's asynchronous-connection flags: libpq's non-blocking connect (PQconnectPoll) ignores connect_timeout.
LIBPQ_ASYNC_CONNECT_FLAGS: Final = ("async_",)
# URL prefixes of databases libpq never connects to: a connect in `if url.startswith("sqlite")` is not libpq's.
NON_LIBPQ_URL_PREFIXES: Final = ("sqlite", "mysql", "mariadb", "mssql", "oracle", "postgresql+asyncpg", "cockroachdb")
# Django: the DATABASES setting, its PostgreSQL engines, and the dj-database-url helpers that build an
# entry from a URL (whose query string becomes the entry's OPTIONS).
DJANGO_DATABASES: Final = "DATABASES"
DJANGO_POSTGRES_ENGINE: Final = "django.db.backends.postgresql"  # also .postgresql_psycopg2
DJANGO_URL_PARSERS: Final = frozenset({"dj_database_url.config", "dj_database_url.parse"})
# OPTIONS keys only a PostgreSQL (libpq / psycopg) entry takes: they tell its engine when ENGINE is built elsewhere.
LIBPQ_OPTION_KEYS: Final = frozenset(
    {"application_name", "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "target_session_attrs",
     "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "prepare_threshold",
     "server_side_binding", "passfile", "service", "assume_role", "cursor_factory"}
)

# -- pools: asyncpg's, the sized ones, SQLAlchemy's that pool nothing (PW103) -------------------------
ASYNCPG_POOLS: Final = frozenset({"asyncpg.create_pool", "asyncpg.pool.create_pool"})
SIZED_POOLS: Final = frozenset(
    {"psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool"}
)
UNPOOLED: Final = frozenset({"NullPool", "StaticPool", "AssertionPool", "SingletonThreadPool"})

# -- pool sizing (PW103, PW107) ---------------------------------------------------------------------
SQLALCHEMY_POOL_DEFAULTS: Final = {"pool_size": "5", "max_overflow": "10", "pool_timeout": "30 s"}
# Words in a function name that make it a cleanup path for cached engines.
CLEANUP_FUNCTION_WORDS: Final = ("dispose", "evict", "cleanup", "close_all", "shutdown")
MEMO_DECORATORS: Final = frozenset({"functools.cache", "functools.lru_cache", "cache", "lru_cache",
                                    "async_lru.alru_cache", "alru_cache"})

# Functions that run once per process: an engine or a default pool there is not multiplied.
ENTRY_POINTS: Final = frozenset(
    {"main", "cli", "run_migrations_online", "run_migrations_offline", "lifespan", "create_app", "init_db",
     "setup", "upgrade", "downgrade"}
)
