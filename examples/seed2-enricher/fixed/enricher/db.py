"""The daemon's engine. One daemon needs one connection at a time; keep the pool that small."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine

from enricher.config import settings

engine = create_async_engine(
    settings.database_url,
    pool_size=1,
    max_overflow=1,
    pool_timeout=10,
    pool_recycle=900,
    # PgBouncer in transaction mode cannot keep server-side prepared statements.
    connect_args={"statement_cache_size": 0, "prepared_statement_cache_size": 0},
)
