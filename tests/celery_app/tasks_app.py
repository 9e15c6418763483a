"""A Celery app for the bridge contrast test: tasks that query through an async engine.

PW_MODE=bridge uses poolwarden's persistent loop; PW_MODE=loop-per-task uses seed 1's bridge,
which creates and closes an event loop on every task.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import sqlalchemy
from celery import Celery

from poolwarden.runtime.bridge import run_async
from poolwarden.runtime.celery import install
from poolwarden.runtime.engine import create_async_engine

MODE = os.environ.get("PW_MODE", "bridge")
app = Celery("pwtest", broker=os.environ.get("PW_REDIS", "redis://127.0.0.1:6379/0"),
             backend=os.environ.get("PW_REDIS", "redis://127.0.0.1:6379/0"))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
engine = create_async_engine(os.environ.get("PW_DSN", "postgresql+asyncpg://localhost/x"),
                             pool_size=2, max_overflow=0, application_name=os.environ.get("PW_APP", "pw-celery"))
if MODE == "bridge":
    install(app, engines=[engine], backoff=0.1)


async def _query(i: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sqlalchemy.text("SELECT CAST(:i AS integer)"), {"i": i})).scalar_one())


def run_async_in_celery(coro: Any) -> Any:  # seed 1's bridge: a new loop per task
    loop = asyncio.new_event_loop()  # poolwarden: ignore[PW102] -- the bug under test
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@app.task
def touch(i: int) -> int:
    if MODE == "bridge":
        return int(run_async(_query(i)))
    return int(run_async_in_celery(_query(i)))


@app.task
def flaky(key: str, dead_port: int) -> int:
    """Fails with a real transient error (a refused connection) on its first attempt only."""
    import psycopg
    import redis

    client = redis.Redis.from_url(os.environ["PW_REDIS"])
    attempt = int(client.incr(key))
    client.close()
    if attempt == 1:
        psycopg.connect(f"host=127.0.0.1 port={dead_port} dbname=x connect_timeout=2").close()
    return attempt


@app.task
def broken(key: str) -> None:
    """Fails with a non-transient error on every attempt: it must not be retried."""
    import redis

    client = redis.Redis.from_url(os.environ["PW_REDIS"])
    client.incr(key)
    client.close()
    raise ValueError("a real bug, not an outage")


async def _lost_write(autocommit: bool) -> None:
    """A write whose connection the server ends mid-statement (pg_terminate_backend on itself)."""
    async with engine.connect() as conn:
        if autocommit:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sqlalchemy.text("UPDATE pw_celery_ledger SET n = n + 1 "
                                           "WHERE pg_terminate_backend(pg_backend_pid())"))
        await conn.commit()


@app.task
def lost_write(key: str, autocommit: bool) -> int:
    """Loses its connection under its write on the first attempt, succeeds after: in autocommit the
    write may have committed (AMBIGUOUS: not retried); in a transaction it was rolled back
    (CONNECTION: retried)."""
    import redis

    client = redis.Redis.from_url(os.environ["PW_REDIS"])
    attempt = int(client.incr(key))
    client.close()
    if attempt == 1:
        run_async(_lost_write(autocommit))
    return attempt
