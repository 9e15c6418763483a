"""runtime.engine: bounded engines by default, PgBouncer mode through a real PgBouncer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool, QueuePool

from poolwarden.errors import UsageError
from poolwarden.runtime import engine as rt
from poolwarden.runtime.errors import ErrorKind, classify


def _url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://")


def test_defaults_are_explicit_bounds(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg"), application_name="pw-engine")
    try:
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool._timeout) == (5, 0, 5.0)  # type: ignore[attr-defined]
        assert engine.pool._pre_ping is True  # type: ignore[attr-defined]
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SHOW application_name")).scalar() == "pw-engine"
    finally:
        engine.dispose()
    record = rt.registered_engines()[-1]
    assert record.worst_case == 5 and "***" in record.url and "postgres:postgres@" not in record.url


def test_exhaustion_fails_fast_as_a_connection_error(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg2"), pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with engine.connect(), pytest.raises(sqlalchemy.exc.TimeoutError) as info:
            engine.connect()
        assert classify(info.value) is ErrorKind.CONNECTION
    finally:
        engine.dispose()


def test_env_and_config_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text("[tool.poolwarden.engine]\npool_size = 2\nmax-overflow = 1\n")
    monkeypatch.setenv("POOLWARDEN_MAX_OVERFLOW", "3")
    settings = rt.PoolSettings.load(config=cfg, pool_timeout=1)
    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout) == (2, 3, 1.0)
    monkeypatch.setenv("POOLWARDEN_PGBOUNCER", "yes")
    assert rt.PoolSettings.load().pgbouncer is True
    monkeypatch.setenv("POOLWARDEN_POOL_SIZE", "many")
    with pytest.raises(UsageError, match="POOLWARDEN_POOL_SIZE"):
        rt.PoolSettings.load()
    cfg.write_text("[tool.poolwarden.engine]\npoolsize = 2\n")
    with pytest.raises(UsageError, match="unknown key 'poolsize'"):
        rt.PoolSettings.load(config=cfg)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_pgbouncer_mode_sync(driver: str, pgbouncer: Any, postgres: str) -> None:
    dbname = postgres.rsplit("/", 1)[1]
    engine = rt.create_engine(_url(pgbouncer.dsn(dbname), driver), pgbouncer=True)
    try:
        assert isinstance(engine.pool, NullPool)
        for i in range(20):  # the same statement again and again: no server-side prepared statement
            with engine.begin() as conn:
                assert conn.execute(sqlalchemy.text("SELECT :i + 1"), {"i": i}).scalar() == i + 1
    finally:
        engine.dispose()
        pgbouncer.release(dbname)
    assert rt.registered_engines()[-1].worst_case is None


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_pgbouncer_mode_async(driver: str, pgbouncer: Any, postgres: str) -> None:
    dbname = postgres.rsplit("/", 1)[1]

    async def run() -> list[int]:
        engine = rt.create_async_engine(_url(pgbouncer.dsn(dbname), driver), pgbouncer=True)
        try:
            out = []
            for i in range(20):
                async with engine.begin() as conn:
                    out.append((await conn.execute(sqlalchemy.text("SELECT :i + 1"), {"i": i})).scalar())
            return out
        finally:
            await engine.dispose()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(run()) == [i + 1 for i in range(20)]
    finally:
        loop.close()
        pgbouncer.release(dbname)
