"""Engines and session factories: one platform database, one database per reseller tenant.

Every engine is built by :func:`make_engine`, so no engine can be created with the library's
default (unbounded for our purposes) pool settings. Tenant engines live in a per-process LRU of
at most ``settings.max_tenant_engines`` entries; an evicted engine is disposed.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from billing.config import settings


class UnknownTenant(LookupError):
    """No active tenant with this id is registered in the platform database."""


def make_engine(url: str) -> AsyncEngine:
    """An engine with explicit pool bounds, or no pool at all behind PgBouncer."""
    if settings.db_use_null_pool:
        return create_async_engine(
            url,
            poolclass=NullPool,
            # Transaction pooling cannot keep server-side prepared statements.
            connect_args={"statement_cache_size": 0, "prepared_statement_cache_size": 0},
        )
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=True,
    )


platform_engine = make_engine(settings.platform_database_url)

_tenant_engines: OrderedDict[str, AsyncEngine] = OrderedDict()


async def _tenant_database_url(tenant_id: str) -> str:
    async with platform_engine.connect() as conn:
        url = await conn.scalar(
            text("SELECT database_url FROM tenants WHERE id = :id AND active"),
            {"id": tenant_id},
        )
    if url is None:
        raise UnknownTenant(tenant_id)
    return str(url)


async def tenant_engine(tenant_id: str) -> AsyncEngine:
    """The engine of one reseller's database; the least recently used one is disposed."""
    engine = _tenant_engines.get(tenant_id)
    if engine is not None:
        _tenant_engines.move_to_end(tenant_id)
        return engine
    url = await _tenant_database_url(tenant_id)
    engine = _tenant_engines.get(tenant_id)  # another task may have won the race meanwhile
    if engine is None:
        engine = make_engine(url)
        _tenant_engines[tenant_id] = engine
    while len(_tenant_engines) > settings.max_tenant_engines:
        _, evicted = _tenant_engines.popitem(last=False)
        await evicted.dispose()
    return engine


async def tenant_sessionmaker(tenant_id: str) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(await tenant_engine(tenant_id), expire_on_commit=False)


async def dispose_all_engines() -> None:
    """Close every pooled connection of this process (API shutdown, worker child exit)."""
    while _tenant_engines:
        _, engine = _tenant_engines.popitem()
        await engine.dispose()
    await platform_engine.dispose()
