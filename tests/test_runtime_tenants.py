"""runtime.tenants.EngineRegistry under concurrent tenants, watched from pg_stat_activity."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy

from poolwarden.runtime import engine as rt
from poolwarden.runtime.errors import ErrorKind, classify
from poolwarden.runtime.tenants import EngineRegistry, TenantCapReached

from .conftest import joined, until

SELECT1 = sqlalchemy.text("SELECT 1")


def _template(dsn: str, driver: str) -> str:
    """One database; each tenant gets its own application_name, so the server tells them apart."""
    return dsn.replace("postgresql://", f"postgresql+{driver}://") + "?application_name=pwt-{tenant}"


def _count(admin_dsn: str) -> int:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pwt-%'").fetchone()
        assert row is not None
        return int(row[0])


@contextlib.contextmanager
def watch(admin_dsn: str) -> Iterator[list[int]]:
    """Sample the tenants' server connections until the block ends; yields the samples."""
    samples: list[int] = []
    stop = threading.Event()

    def run() -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pwt-%'").fetchone()
                assert row is not None
                samples.append(int(row[0]))

    t = threading.Thread(target=run)
    t.start()
    try:
        yield samples
    finally:
        stop.set()
        joined(t)



def test_caps_hold_under_concurrent_tenants(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=3, max_connections=4, pool_size=2,
                              pool_timeout=30)
    errors: list[BaseException] = []
    alive: list[int] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                tenant = f"t{(n * 7 + i) % 10}"
                with registry.connect(tenant) as conn:
                    alive.append(len(registry.tenants()))
                    conn.execute(sqlalchemy.text("SELECT pg_sleep(0.002)"))
        except BaseException as exc:
            errors.append(exc)

    try:
        with watch(postgres) as samples:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                joined(t)
        assert not errors, errors[:3]
        stats = registry.stats()
        assert max(samples) <= 4 and stats["peak_connections"] <= 4, (max(samples), stats)
        assert max(alive) <= 3 and len(registry.tenants()) == 3
        assert stats["created"] > 3  # tenants came and went: evictions happened under load
        assert samples and max(samples) >= 2  # the watcher saw real work
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_eviction_waits_for_checked_out_connections(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg2"), max_engines=1, max_connections=5)
    try:
        held = registry.get("a").connect()
        held.execute(SELECT1)
        with registry.connect("b") as conn:  # evicts "a" while one of its connections is out
            conn.execute(SELECT1)
        assert registry.tenants() == ["b"] and registry.stats()["draining"] == 1
        assert held.execute(sqlalchemy.text("SELECT 2")).scalar() == 2  # still the caller's, still working
        held.close()
        registry.get("b")  # the next call drains what came back
        assert registry.stats()["draining"] == 0 and registry.stats()["disposed"] == 1
        until(lambda: _count(postgres) == 1)  # only b's pooled connection is left
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_process_cap_fails_fast_and_reclaims_idle_pools(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=4, max_connections=1, pool_timeout=0.3)
    try:
        with registry.connect("a") as conn:
            conn.execute(SELECT1)
            with pytest.raises(TenantCapReached) as info:
                registry.get("b").connect()
            assert classify(info.value) is ErrorKind.CONNECTION and "1 connections" in str(info.value)
        with registry.connect("b") as conn:  # a's connection is idle in a's pool: closed to make room
            conn.execute(SELECT1)
        assert registry.stats()["peak_connections"] == 1
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_async_registry_caps_hold(postgres: str) -> None:
    url = postgres.replace("postgresql://", "postgresql+asyncpg://")
    registry = EngineRegistry(lambda tenant: url, asynchronous=True, max_engines=2, max_connections=3,
                              pool_size=2, pool_timeout=30, application_name="pwt-async")

    async def one(i: int) -> int:
        async with registry.aconnect(f"t{i % 6}") as conn:
            await conn.execute(sqlalchemy.text("SELECT pg_sleep(0.01)"))
        return len(registry.tenants())

    async def main() -> list[int]:
        try:
            return list(await asyncio.gather(*(one(i) for i in range(60))))
        finally:
            await registry.adispose()

    with watch(postgres) as samples:
        alive = asyncio.run(main())
    assert max(alive) <= 2
    assert max(samples) <= 3 and registry.stats()["peak_connections"] <= 3
    assert registry.stats()["created"] > 2 and max(samples) >= 2
    until(lambda: _count(postgres) == 0)


def test_worst_case_is_registered_for_budget(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=40, max_connections=12)
    record = rt.registered_engines()[-1]
    assert record.worst_case == 12 == registry.worst_case
    assert record.extra["kind"] == "tenant-registry" and ":***@" in record.url and "{tenant}" in record.url
    registry.dispose()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "postgresql://x/db"}, "{tenant}"),
    ({"max_engines": 0}, "max_engines"),
    ({"max_connections": 2.5}, "max_connections"),
])
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args = {"url": "postgresql+psycopg://u@h/{tenant}", **kwargs}
    with pytest.raises(ValueError, match=message):
        EngineRegistry(**args)
