"""Engines and session factories: one platform database, one database per reseller tenant."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from billing.config import settings


class UnknownTenant(LookupError):
    """No active tenant with this id is registered in the platform database."""


platform_engine = create_async_engine(  # expect: PW103
    settings.platform_database_url, pool_pre_ping=True
)

_tenant_engines: dict[str, AsyncEngine] = {}


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
    """The engine of one reseller's database, created the first time the tenant is seen."""
    engine = _tenant_engines.get(tenant_id)
    if engine is None:
        url = await _tenant_database_url(tenant_id)
        engine = create_async_engine(url, pool_pre_ping=True)  # expect: PW103, PW107
        _tenant_engines[tenant_id] = engine
    return engine


async def tenant_sessionmaker(tenant_id: str) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(await tenant_engine(tenant_id), expire_on_commit=False)
