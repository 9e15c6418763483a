"""Database access: a SQLAlchemy engine for the API, a psycopg pool for the moderation queue."""

from __future__ import annotations

from psycopg_pool import ConnectionPool
from sqlalchemy import create_engine

from relay.config import settings

engine = create_engine(  # expect: PW103, PW106
    # Same database, through SQLAlchemy's psycopg (3) dialect.
    settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
    pool_size=10,
    max_overflow=5,
    pool_pre_ping=True,
)

moderation_pool = ConnectionPool(settings.database_url)  # expect: PW103, PW106
