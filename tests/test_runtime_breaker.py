"""runtime.breaker and runtime.deadline against a real outage and hosts that never answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy

from poolwarden.runtime import engine as rt
from poolwarden.runtime.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from poolwarden.runtime.deadline import (
    ConnectDeadlineExceeded,
    aconnect_with_deadline,
    attempts,
    connect_with_deadline,
)
from poolwarden.runtime.errors import ErrorKind, classify, is_transient
from poolwarden.testing.cluster import PostgresCluster

from .conftest import auntil, until


def _url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://")



@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port that completes TCP handshakes and never answers (nothing accepts or reads)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_breaker_opens_in_an_outage_fails_fast_and_closes_after(postgres: str, postgres_cluster: PostgresCluster,
                                                                pg_outage: Any, driver: str) -> None:
    transitions: list[tuple[str, str]] = []
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=0.2, name="billing",
                             on_state_change=lambda a, b: transitions.append((a, b)))
    engine = rt.create_engine(_url(postgres, driver), pool_size=2)
    breaker.attach(engine)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        with pg_outage(postgres_cluster):
            errors = []
            for _ in range(10):
                with pytest.raises(Exception) as info, engine.connect() as conn:
                    conn.execute(sqlalchemy.text("SELECT 1"))
                errors.append(info.value)
            assert all(is_transient(e) for e in errors)
            assert not any(isinstance(e, CircuitOpenError) for e in errors[:3])  # real attempts first
            assert all(isinstance(e, CircuitOpenError) for e in errors[3:])  # then not even tried
            assert classify(errors[-1]) is ErrorKind.CONNECTION
            assert "billing" in str(errors[-1]) and errors[-1].last_error is not None  # type: ignore[attr-defined]
            stats = breaker.stats()
            assert (stats.state, stats.failures_total, stats.rejected_total, stats.opened_total) == ("open", 3, 7, 1)
            assert stats.state is BreakerState.OPEN and stats.name == "billing"
            assert json.dumps(stats.state) == '"open"' and f"{stats.state}" == str(stats.state) == "open"
            until(lambda: breaker.state == "half-open")
            with pytest.raises(Exception) as probe, engine.connect():  # the probe meets the outage: open again
                pass
            assert not isinstance(probe.value, CircuitOpenError)
            assert breaker.stats().opened_total == 2
        until(lambda: breaker.state == "half-open")
        with engine.connect() as conn:  # the server is back: the probe succeeds and closes it
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
        assert breaker.state == "closed"
        assert transitions == [("closed", "open"), ("open", "half-open"), ("half-open", "open"),
                               ("open", "half-open"), ("half-open", "closed")]
    finally:
        engine.dispose()


def test_async_engine_behind_a_breaker(postgres: str, postgres_cluster: PostgresCluster, pg_outage: Any) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.2)
    engine = rt.create_async_engine(_url(postgres, "asyncpg"))
    breaker.attach(engine, connect_deadline=5)

    async def attempt() -> BaseException | None:
        try:
            async with engine.connect() as conn:
                await conn.execute(sqlalchemy.text("SELECT 1"))
        except Exception as exc:
            return exc
        return None

    async def main() -> tuple[list[BaseException | None], BaseException | None]:
        try:
            with pg_outage(postgres_cluster):
                during = [await attempt() for _ in range(5)]
            await auntil(lambda: breaker.state == "half-open")
            return during, await attempt()
        finally:
            await engine.dispose()

    during, after = asyncio.run(main())
    assert [isinstance(e, CircuitOpenError) for e in during] == [False, False, True, True, True]
    assert all(e is not None and is_transient(e) for e in during)
    assert after is None and breaker.state == "closed"


def test_answers_are_not_failures(postgres: str) -> None:
    """A unique violation is the server answering: it never opens the breaker."""
    breaker = CircuitBreaker(failure_threshold=1)
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t VALUES (1)")

        @breaker
        def insert() -> None:
            conn.execute("INSERT INTO t VALUES (1)")

        for _ in range(3):
            with pytest.raises(psycopg.errors.UniqueViolation):
                insert()
        with breaker:
            conn.execute("SELECT 1")
    assert breaker.state == "closed" and breaker.stats().failures_total == 0


def test_total_deadline_across_hosts_that_never_answer(postgres_cluster: PostgresCluster) -> None:
    """Seed 3: libpq would wait connect_timeout (30 s here) per host; the total deadline caps it."""
    with blackhole() as a, blackhole() as b:
        started = time.monotonic()
        with pytest.raises(ConnectDeadlineExceeded) as info:
            connect_with_deadline(psycopg.connect, total=2.0, host="127.0.0.1,127.0.0.1,127.0.0.1",
                                  port=f"{a},{b},{postgres_cluster.port}", dbname="postgres", user="postgres",
                                  password="postgres", connect_timeout=30)
        elapsed = time.monotonic() - started
        assert elapsed < 30  # libpq alone: 30 s for the first host, 60 s before reaching the third
        assert is_transient(info.value) and "total deadline of 2 s" in str(info.value)
        assert [where for where, _ in info.value.errors] == [f"127.0.0.1:{a}"]
        # with a per-attempt cap, the dead hosts are skipped in time to reach the live one
        with connect_with_deadline(psycopg.connect, total=10, per_attempt=0.5, host="127.0.0.1,127.0.0.1,127.0.0.1",
                                   port=f"{a},{b},{postgres_cluster.port}", dbname="postgres", user="postgres",
                                   password="postgres", application_name="pw-deadline") as conn:
            assert conn.execute("SELECT current_setting('application_name')").fetchone() == ("pw-deadline",)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2", "asyncpg"])
def test_engine_connect_deadline_skips_dead_hosts(postgres_cluster: PostgresCluster, driver: str) -> None:
    port = postgres_cluster.port
    with blackhole() as a, blackhole() as b:
        url = (f"postgresql+{driver}://postgres:postgres@/postgres"
               f"?host=127.0.0.1:{a}&host=127.0.0.1:{b}&host=127.0.0.1:{port}")
        breaker = CircuitBreaker()
        if driver == "asyncpg":
            engine: Any = rt.create_async_engine(url, connect_timeout=30)
            breaker.attach(engine, connect_deadline=10, per_attempt=0.5)

            async def main() -> Any:
                try:
                    async with engine.connect() as conn:
                        return (await conn.execute(sqlalchemy.text("SELECT 1"))).scalar()
                finally:
                    await engine.dispose()
            assert asyncio.run(main()) == 1
        else:
            engine = rt.create_engine(url, connect_timeout=30)
            breaker.attach(engine, connect_deadline=10, per_attempt=0.5)
            try:
                with engine.connect() as conn:
                    assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
            finally:
                engine.dispose()
        assert breaker.state == "closed"


def test_attempts_expand_hosts_and_addresses_in_libpq_order() -> None:
    twelve = [f"10.0.0.{i}" for i in range(1, 13)]
    plan = attempts({"host": "db.internal,/run/pg,10.9.9.9", "port": "5432", "dbname": "app"},
                    resolve=lambda host, port: twelve if host == "db.internal" else [])
    assert [(p["host"], p.get("hostaddr")) for p in plan] == [
        *[("db.internal", ip) for ip in twelve], ("/run/pg", None), ("10.9.9.9", None)]
    assert all(p["port"] == "5432" and p["dbname"] == "app" for p in plan)
    asyncpg_plan = attempts({"host": ["a", "b"], "port": [5432, 6432]}, libpq=False)
    assert [(p["host"], p["port"]) for p in asyncpg_plan] == [("a", 5432), ("b", 6432)]


def test_a_cancelled_probe_decides_nothing() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=0.05)
    breaker.failure(ConnectionRefusedError("refused"))
    assert breaker.state == "open"
    until(lambda: breaker.state == "half-open")
    with pytest.raises(KeyboardInterrupt), breaker:  # the probe is interrupted: no verdict
        raise KeyboardInterrupt
    assert breaker.state == "half-open"
    with pytest.raises(asyncio.CancelledError):
        breaker.call(lambda: (_ for _ in ()).throw(asyncio.CancelledError()))
    assert breaker.state == "half-open"
    breaker.call(lambda: None)  # the next probe decides
    assert breaker.state == "closed"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"failure_threshold": 0}, "failure_threshold"),
    ({"failure_threshold": True}, "failure_threshold"),
    ({"reset_timeout": -1}, "reset_timeout"),
])
def test_bad_breaker_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker(**kwargs)


# -- configuration errors through a connect deadline are answers, not outages (issue 11, item 2) ----

CONFIG_FAULTS: dict[str, dict[str, str]] = {"wrong password": {"password": "wrong"},
                                            "missing database": {"dbname": "no_such_db"}}


def _config_dsn(cluster: PostgresCluster, fault: str) -> str:
    return cluster.dsn(**CONFIG_FAULTS[fault])


def _assert_an_answer(exc: BaseException, fault: str) -> None:
    """The driver's own error (as without a deadline), classified NOT_TRANSIENT, naming the cause."""
    assert not isinstance(exc, ConnectDeadlineExceeded), exc
    assert classify(exc) is ErrorKind.NOT_TRANSIENT, f"{type(exc).__name__}: {exc}"
    assert ("password" in str(exc)) if fault == "wrong password" else ("no_such_db" in str(exc))


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_connect_with_deadline_raises_configuration_errors_themselves(postgres_cluster: PostgresCluster,
                                                                      driver: str, fault: str) -> None:
    import psycopg2

    connect: Any = {"psycopg": psycopg.connect, "psycopg2": psycopg2.connect}[driver]
    dbapi_error: Any = {"psycopg": psycopg.OperationalError, "psycopg2": psycopg2.OperationalError}[driver]
    breaker = CircuitBreaker(failure_threshold=2)
    for _ in range(6):
        with pytest.raises(dbapi_error) as info, breaker:
            connect_with_deadline(connect, _config_dsn(postgres_cluster, fault), total=5)
        _assert_an_answer(info.value, fault)
    assert breaker.state == "closed" and breaker.stats().failures_total == 0


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_aconnect_with_deadline_raises_configuration_errors_themselves(postgres_cluster: PostgresCluster,
                                                                       driver: str, fault: str) -> None:
    import asyncpg

    dsn = _config_dsn(postgres_cluster, fault)
    breaker = CircuitBreaker(failure_threshold=2)

    async def once() -> BaseException:
        try:
            async with breaker:
                if driver == "asyncpg":
                    await aconnect_with_deadline(asyncpg.connect, total=5, libpq=False, dsn=dsn)
                else:
                    await aconnect_with_deadline(psycopg.AsyncConnection.connect, total=5, conninfo=dsn)
        except Exception as exc:
            return exc
        raise AssertionError("connected despite the configuration error")

    async def main() -> list[BaseException]:
        return [await once() for _ in range(6)]

    for exc in asyncio.run(main()):
        _assert_an_answer(exc, fault)
    assert breaker.state == "closed" and breaker.stats().failures_total == 0


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS))
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2", "asyncpg", "psycopg-async"])
def test_attached_connect_deadline_keeps_configuration_errors_answers(postgres_cluster: PostgresCluster,
                                                                      driver: str, fault: str) -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    url = _url(_config_dsn(postgres_cluster, fault), driver.removesuffix("-async"))
    errors: list[BaseException] = []
    if driver in ("asyncpg", "psycopg-async"):
        aengine = rt.create_async_engine(url)
        breaker.attach(aengine, connect_deadline=5)

        async def main() -> None:
            try:
                for _ in range(6):
                    with pytest.raises(sqlalchemy.exc.DBAPIError) as info:
                        async with aengine.connect():
                            pass
                    errors.append(info.value)
            finally:
                await aengine.dispose()
        asyncio.run(main())
    else:
        engine = rt.create_engine(url)
        breaker.attach(engine, connect_deadline=5)
        try:
            for _ in range(6):
                with pytest.raises(sqlalchemy.exc.DBAPIError) as info, engine.connect():
                    pass
                errors.append(info.value)
        finally:
            engine.dispose()
    for exc in errors:
        _assert_an_answer(exc, fault)
    assert breaker.state == "closed" and breaker.stats().failures_total == 0


def test_a_configuration_error_wins_over_hosts_that_never_answer(postgres_cluster: PostgresCluster) -> None:
    """Mixed attempts: one host times out, the live one rejects the password. libpq would report
    the rejection too; a caller must fix the configuration, so the rejection is raised itself."""
    with blackhole() as dead, pytest.raises(psycopg.OperationalError) as info:
        connect_with_deadline(psycopg.connect, total=10, per_attempt=0.5, host="127.0.0.1,127.0.0.1",
                              port=f"{dead},{postgres_cluster.port}", dbname="postgres", user="postgres",
                              password="wrong")
    _assert_an_answer(info.value, "wrong password")
    assert any(f"127.0.0.1:{dead}: no answer in time" in note for note in info.value.__notes__)
