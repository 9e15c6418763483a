"""runtime.monitor on real pools: leaks and idle-in-transaction holders named by file and line."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy

from poolwarden.runtime import engine as rt
from poolwarden.runtime.monitor import (
    IDLE_IN_TRANSACTION,
    LEAK,
    LEAK_RETURNED,
    UTILISATION,
    UTILISATION_CLEARED,
    PoolEvent,
    instrument,
)

from .conftest import auntil

WAIT = 15.0  # upper bound for a report to arrive; reports come within a quarter threshold


class Inbox:
    """Events from ``on_event``, with a way to wait for one kind without sleeping."""

    def __init__(self) -> None:
        self.events: list[PoolEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: PoolEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, kind: str) -> PoolEvent:
        with self._cond:
            assert self._cond.wait_for(lambda: any(e.kind == kind for e in self.events), WAIT), (
                f"no {kind} event within {WAIT} s: {self.events}")
            return next(e for e in self.events if e.kind == kind)

    def kinds(self) -> list[str]:
        with self._cond:
            return [e.kind for e in self.events]


def _here() -> int:
    """The caller's line number."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def _url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://")


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_forgotten_connection_is_reported_with_this_file_and_line(postgres: str, driver: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    engine = rt.create_engine(_url(postgres, driver), pool_size=2)
    inbox = Inbox()
    monitor = instrument(engine, leak_threshold=0.2, on_event=inbox, name="billing")
    try:
        with caplog.at_level(logging.WARNING, logger="poolwarden.monitor"):
            line = _here() + 1
            conn = engine.connect()  # forgotten: nothing closes it until the report came
            leak = inbox.wait(LEAK)
        assert leak.location is not None
        assert (leak.location.file, leak.location.line) == (__file__, line)
        assert leak.location.function == "test_forgotten_connection_is_reported_with_this_file_and_line"
        assert f"test_runtime_monitor.py:{line}" in caplog.text and "'billing'" in caplog.text
        assert monitor.stats().leaks_total == 1 and monitor.stats().checked_out == 1
        conn.close()
        returned = inbox.wait(LEAK_RETURNED)
        assert returned.location == leak.location and returned.held_ms is not None
        stats = monitor.stats()
        assert (stats.checked_out, stats.leaks_total, stats.checkouts_total, stats.hold_ms.count) == (0, 1, 1, 1)
        assert inbox.kinds().count(LEAK) == 1  # once per checkout, however long it is held
    finally:
        monitor.close()
        engine.dispose()


def test_transaction_held_across_asyncio_sleep_is_idle_in_transaction(postgres: str) -> None:
    engine = rt.create_async_engine(_url(postgres, "asyncpg"))
    inbox = Inbox()
    monitor = instrument(engine, idle_in_transaction_threshold=0.2, on_event=inbox)

    async def handler() -> tuple[int, PoolEvent]:
        line = _here() + 1
        async with engine.begin() as conn:
            await conn.execute(sqlalchemy.text("SELECT 1"))
            await auntil(inbox.kinds, WAIT)  # the seed 2 shape: awaiting something else inside the transaction
        return line, inbox.wait(IDLE_IN_TRANSACTION)

    async def main() -> tuple[int, PoolEvent]:
        try:
            return await handler()
        finally:
            await engine.dispose()

    try:
        line, event = asyncio.run(main())
    finally:
        monitor.close()
    assert event.location is not None
    assert (event.location.file, event.location.line, event.location.function) == (__file__, line, "handler")
    assert event.idle_ms is not None and event.idle_ms >= 200
    assert monitor.stats().idle_in_transaction_total == 1


def test_a_running_statement_is_not_idle(postgres: str) -> None:
    """A transaction busy in a long statement is working, not idle: no report while it runs."""
    engine = rt.create_engine(_url(postgres, "psycopg"))
    inbox = Inbox()
    monitor = instrument(engine, idle_in_transaction_threshold=0.1, leak_threshold=0.1, on_event=inbox)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_sleep(1)"))
            inbox.wait(LEAK)  # the watcher scanned during the statement (the leak threshold passed)
            assert IDLE_IN_TRANSACTION not in inbox.kinds()
        assert monitor.stats().idle_in_transaction_total == 0
    finally:
        monitor.close()
        engine.dispose()


def test_psycopg_pool_leak_and_idle_in_transaction(postgres: str) -> None:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(postgres, min_size=1, max_size=3, open=True)
    inbox = Inbox()
    monitor = instrument(pool, leak_threshold=0.3, idle_in_transaction_threshold=0.15, on_event=inbox,
                         utilisation_thresholds=())
    try:
        line = _here() + 1
        with pool.connection() as conn:
            conn.execute("SELECT 1")
            idle = inbox.wait(IDLE_IN_TRANSACTION)  # psycopg opened a transaction; nothing runs in it
            leak = inbox.wait(LEAK)
        assert idle.location is not None and (idle.location.file, idle.location.line) == (__file__, line)
        assert leak.location == idle.location
        inbox.wait(LEAK_RETURNED)
        stats = monitor.stats()
        assert (stats.checked_out, stats.max, stats.library) == (0, 3, "psycopg_pool")
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        assert type(conn.cursor()).__module__.startswith("psycopg")  # the cursor class came back
    finally:
        monitor.close()
        pool.close()


def test_asyncpg_pool_leak_and_idle_in_transaction(postgres: str) -> None:
    import asyncpg

    inbox = Inbox()

    async def main() -> tuple[int, Any]:
        pool = await asyncpg.create_pool(postgres, min_size=1, max_size=2)
        monitor = instrument(pool, leak_threshold=0.3, idle_in_transaction_threshold=0.15, on_event=inbox)
        try:
            line = _here() + 1
            async with pool.acquire(timeout=WAIT) as conn, conn.transaction():
                await conn.execute("SELECT 1")
                await auntil(lambda: IDLE_IN_TRANSACTION in inbox.kinds() and LEAK in inbox.kinds(), WAIT)
            return line, monitor
        finally:
            await pool.close()
            monitor.close()

    line, monitor = asyncio.run(main())
    for kind in (IDLE_IN_TRANSACTION, LEAK):
        loc = inbox.wait(kind).location
        assert loc is not None and (loc.file, loc.line, loc.function) == (__file__, line, "main")
    inbox.wait(LEAK_RETURNED)
    assert monitor.stats().checked_out == 0


def test_waits_timeouts_and_utilisation(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg"), pool_size=10, pool_timeout=0.2)
    inbox = Inbox()
    monitor = instrument(engine, on_event=inbox)
    held: list[Any] = []
    try:
        for _ in range(7):
            held.append(engine.connect())
        assert inbox.wait(UTILISATION).threshold == 0.7
        for _ in range(3):
            held.append(engine.connect())
        assert [e.threshold for e in inbox.events if e.kind == UTILISATION] == [0.7, 0.9]
        with pytest.raises(sqlalchemy.exc.TimeoutError):
            engine.connect()
        stats = monitor.stats()
        assert (stats.checked_out, stats.idle, stats.size, stats.max, stats.waiting) == (10, 0, 10, 10, 0)
        assert (stats.utilisation_ratio, stats.checkout_timeouts_total, stats.checkout_wait_ms.count) == (1.0, 1, 11)
        assert stats.checkout_wait_ms.quantile(1.0) is not None and stats.checkout_wait_ms.quantile(1.0) >= 200
        for conn in held:
            conn.close()
        held.clear()
        assert inbox.wait(UTILISATION_CLEARED).utilisation == 0.6
        stats = monitor.stats()
        assert (stats.checked_out, stats.idle, stats.connections_opened_total) == (0, 10, 10)
    finally:
        for conn in held:
            conn.close()
        monitor.close()
        engine.dispose()


def test_invalidation_dispose_and_close(postgres: str) -> None:
    engine = rt.create_engine(_url(postgres, "psycopg"))
    monitor = instrument(engine)
    try:
        with engine.connect() as conn:
            conn.invalidate()
        engine.dispose()  # a new pool: still monitored
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        stats = monitor.stats()
        assert (stats.invalidations_total, stats.checkouts_total, stats.checkout_wait_ms.count) == (1, 2, 2)
        monitor.close()
        with engine.connect():
            pass
        assert monitor.stats().checkouts_total == 2  # hooks gone
    finally:
        monitor.close()
        engine.dispose()


def test_prometheus_collector(postgres: str) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from poolwarden.runtime.monitor import PoolCollector

    engine = rt.create_engine(_url(postgres, "psycopg"), pool_size=4)
    monitor = instrument(engine, name="api")
    try:
        with engine.connect():
            registry = CollectorRegistry()
            registry.register(PoolCollector([monitor]))
            text = generate_latest(registry).decode()
        assert 'poolwarden_pool_connections_checked_out{pool="api"} 1.0' in text
        assert 'poolwarden_pool_connections_max{pool="api"} 4.0' in text
        assert 'poolwarden_pool_utilisation_ratio{pool="api"} 0.25' in text
        assert 'poolwarden_pool_checkouts_total{pool="api"} 1.0' in text
        assert 'poolwarden_pool_checkout_wait_seconds_count{pool="api"} 1.0' in text
        assert 'poolwarden_pool_hold_seconds_bucket{le="+Inf",pool="api"} 0.0' in text
    finally:
        monitor.close()
        engine.dispose()


@pytest.mark.parametrize(("target", "kwargs", "error"), [
    (lambda: object(), {}, TypeError),
    (lambda: sqlalchemy.create_engine("postgresql+psycopg://u@localhost/x"), {"leak_threshold": 0}, ValueError),
    (lambda: sqlalchemy.create_engine("postgresql+psycopg://u@localhost/x"), {"leak_threshold": "5"}, ValueError),
    (lambda: sqlalchemy.create_engine("postgresql+psycopg://u@localhost/x"), {"utilisation_thresholds": [70]},
     ValueError),
])
def test_bad_arguments(target: Callable[[], Any], kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        instrument(target(), **kwargs)
