"""Database access: a SQLAlchemy engine for the API, a psycopg pool for the moderation queue.

Both are bounded, both give up waiting for a free connection after a few seconds, and every
connection they open carries a libpq connect_timeout: a request fails fast instead of hanging.
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool
from sqlalchemy import create_engine

from relay.config import settings

engine = create_engine(
    # Same database, through SQLAlchemy's psycopg (3) dialect.
    settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
    pool_size=10,
    max_overflow=5,
    pool_timeout=settings.pool_timeout_seconds,
    pool_recycle=300,  # Neon's proxy drops idle connections
    pool_pre_ping=True,
    connect_args={"connect_timeout": settings.connect_timeout_seconds},
)

moderation_pool = ConnectionPool(
    settings.database_url,
    min_size=1,
    max_size=4,
    timeout=settings.pool_timeout_seconds,
    max_idle=120,
    reconnect_timeout=60,
    kwargs={"connect_timeout": settings.connect_timeout_seconds},
    open=False,
    name="moderation",
)
