"""The per-process psycopg2 connection pool and the helpers that hand out its connections."""

from __future__ import annotations

import threading

from psycopg2.extensions import connection as PgConnection
from psycopg2.pool import ThreadedConnectionPool

from coderden.config import settings

_pool: ThreadedConnectionPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> ThreadedConnectionPool:
    """This process's pool, created on first use: after the gunicorn/Celery fork, never before."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadedConnectionPool(
                    settings.db_pool_min,
                    settings.db_pool_max,
                    dsn=settings.database_url,
                    connect_timeout=settings.connect_timeout_seconds,
                    application_name="coderden",
                )
    return _pool


def get_conn() -> PgConnection:
    """A connection from the pool; the caller must give it back with :func:`put_conn`."""
    return get_pool().getconn()


def put_conn(conn: PgConnection) -> None:
    get_pool().putconn(conn)


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.closeall()
        _pool = None
