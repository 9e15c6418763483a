"""runtime.errors on real failures: a real server produces each fault, for each driver.

No exception here is constructed by hand: every one comes out of psycopg 3, psycopg2, asyncpg
or SQLAlchemy talking to a throwaway PostgreSQL cluster from the pytest plugin.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from poolwarden.runtime.errors import ErrorKind, classify, is_transient, raise_if_transient
from poolwarden.testing.cluster import PostgresCluster, free_port


class Driver:
    """A tiny synchronous face over one driver: connect, run SQL, close."""

    name = ""

    def connect(self, dsn: str) -> Any:
        raise NotImplementedError

    def execute(self, conn: Any, sql: str) -> Any:
        raise NotImplementedError

    def close(self, conn: Any) -> None:
        raise NotImplementedError


class Psycopg3(Driver):
    name = "psycopg"

    def connect(self, dsn: str) -> Any:
        import psycopg

        return psycopg.connect(dsn, connect_timeout=5, application_name="pw-test")

    def execute(self, conn: Any, sql: str) -> Any:
        return conn.execute(sql)

    def close(self, conn: Any) -> None:
        conn.close()


class Psycopg2(Driver):
    name = "psycopg2"

    def connect(self, dsn: str) -> Any:
        import psycopg2

        return psycopg2.connect(dsn, connect_timeout=5, application_name="pw-test")

    def execute(self, conn: Any, sql: str) -> Any:
        cur = conn.cursor()
        cur.execute(sql)
        return cur

    def close(self, conn: Any) -> None:
        conn.close()


class Asyncpg(Driver):
    """asyncpg driven from sync code on one private loop (the loop outlives each call)."""

    name = "asyncpg"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def connect(self, dsn: str) -> Any:
        import asyncpg

        settings = {"application_name": "pw-test"}
        return self.loop.run_until_complete(asyncpg.connect(dsn, timeout=5, server_settings=settings))

    def execute(self, conn: Any, sql: str) -> Any:
        if sql.strip().upper().startswith(("BEGIN", "COMMIT", "SET", "UPDATE", "INSERT", "CREATE")):
            return self.loop.run_until_complete(conn.execute(sql))
        return self.loop.run_until_complete(conn.fetch(sql))

    def close(self, conn: Any) -> None:
        self.loop.run_until_complete(conn.close())


DRIVERS: list[Callable[[], Driver]] = [Psycopg3, Psycopg2, Asyncpg]


@pytest.fixture(params=DRIVERS, ids=lambda d: d.name)
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param()  # type: ignore[no-any-return]


def _raised(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("the fault did not raise")


def _check(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind, f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert is_transient(exc) is (kind is not ErrorKind.NOT_TRANSIENT)


# -- faults --------------------------------------------------------------------------------------

def test_too_many_clients(driver: Driver, postgres_cluster: PostgresCluster, pg_saturate: Any) -> None:
    with pg_saturate(postgres_cluster):
        exc = _raised(lambda: driver.connect(postgres_cluster.dsn()))
    assert "too many clients" in str(exc)
    _check(exc, ErrorKind.CONNECTION)


def test_server_not_running(driver: Driver) -> None:
    exc = _raised(lambda: driver.connect(f"postgresql://postgres:postgres@127.0.0.1:{free_port()}/postgres"))
    _check(exc, ErrorKind.CONNECTION)


def test_bad_password(driver: Driver, postgres: str) -> None:
    exc = _raised(lambda: driver.connect(postgres.replace("postgres:postgres@", "postgres:wrong@")))
    _check(exc, ErrorKind.NOT_TRANSIENT)


def test_terminated_by_admin(driver: Driver, postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = driver.connect(postgres)
    try:
        with postgres_cluster.admin() as admin:
            admin.execute(  # type: ignore[attr-defined]
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pw-test'"
            )
        exc = _raised(lambda: driver.execute(conn, "SELECT 1"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)


def test_statement_timeout(driver: Driver, postgres: str) -> None:
    conn = driver.connect(postgres)
    try:
        driver.execute(conn, "SET statement_timeout = '50ms'")
        exc = _raised(lambda: driver.execute(conn, "SELECT pg_sleep(5)"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.AMBIGUOUS)


def test_idle_in_transaction_timeout(driver: Driver, postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = driver.connect(postgres)
    try:
        driver.execute(conn, "SET idle_in_transaction_session_timeout = '100ms'")
        driver.execute(conn, "BEGIN")
        driver.execute(conn, "SELECT 1")
        _wait_until_gone(postgres_cluster, "pw-test")  # the server's timeout ends the session
        exc = _raised(lambda: driver.execute(conn, "SELECT 1"))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)


def test_serialization_failure(driver: Driver, postgres: str) -> None:
    setup = driver.connect(postgres)
    a = driver.connect(postgres)
    b = driver.connect(postgres)
    try:
        _autocommit(driver, setup, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0)")
        driver.execute(a, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        driver.execute(a, "SELECT v FROM t WHERE id = 1")
        _autocommit(driver, b, "UPDATE t SET v = 1 WHERE id = 1")
        exc = _raised(lambda: driver.execute(a, "UPDATE t SET v = 2 WHERE id = 1"))
    finally:
        for conn in (setup, a, b):
            _close_quietly(driver, conn)
    _check(exc, ErrorKind.RETRY_TRANSACTION)


def test_deadlock(driver: Driver, postgres: str) -> None:
    setup = driver.connect(postgres)
    a, b = driver.connect(postgres), driver.connect(postgres)
    errors: list[BaseException] = []
    try:
        _autocommit(driver, setup, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)")
        for conn in (a, b):
            driver.execute(conn, "SET deadlock_timeout = '50ms'")
            driver.execute(conn, "BEGIN")
        driver.execute(a, "UPDATE t SET v = 1 WHERE id = 1")
        driver.execute(b, "UPDATE t SET v = 1 WHERE id = 2")
        if isinstance(driver, Asyncpg):
            async def both() -> None:
                results = await asyncio.gather(a.execute("UPDATE t SET v = 2 WHERE id = 2"),
                                               b.execute("UPDATE t SET v = 2 WHERE id = 1"), return_exceptions=True)
                errors.extend(r for r in results if isinstance(r, BaseException))
            driver.loop.run_until_complete(both())
        else:
            def other() -> None:
                try:
                    driver.execute(a, "UPDATE t SET v = 2 WHERE id = 2")
                except Exception as exc:
                    errors.append(exc)

            thread = threading.Thread(target=other)
            thread.start()
            try:
                driver.execute(b, "UPDATE t SET v = 2 WHERE id = 1")
            except Exception as exc:
                errors.append(exc)
            for conn in (a, b):  # the survivor waits on nothing once the victim rolled back
                with _quiet():
                    driver.execute(conn, "ROLLBACK")
            thread.join(timeout=30)
    finally:
        for conn in (setup, a, b):
            _close_quietly(driver, conn)
    assert len(errors) == 1
    _check(errors[0], ErrorKind.RETRY_TRANSACTION)


def test_unique_violation_and_syntax_error(driver: Driver, postgres: str) -> None:
    conn = driver.connect(postgres)
    try:
        _autocommit(driver, conn, "CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)")
        dup = _raised(lambda: _autocommit(driver, conn, "INSERT INTO u VALUES (1)"))
        syntax = _raised(lambda: _autocommit(driver, conn, "SELEC 1"))
    finally:
        _close_quietly(driver, conn)
    _check(dup, ErrorKind.NOT_TRANSIENT)
    _check(syntax, ErrorKind.NOT_TRANSIENT)


def test_raise_if_transient_reraises_only_outages(postgres: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        syntax = _raised(lambda: conn.execute("SELEC 1"))
    raise_if_transient(syntax)  # an answer: returns
    refused = _raised(lambda: psycopg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/x", connect_timeout=2))
    with pytest.raises(psycopg.OperationalError):
        raise_if_transient(refused)


# -- helpers --------------------------------------------------------------------------------------

class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _close_quietly(driver: Driver, conn: Any) -> None:
    with _quiet():
        driver.close(conn)


def _autocommit(driver: Driver, conn: Any, sql: str) -> None:
    for statement in sql.split(";"):
        if statement.strip():
            driver.execute(conn, statement)
    if not isinstance(driver, Asyncpg):
        conn.commit()


def _wait_until_gone(cluster: PostgresCluster, application_name: str) -> None:
    """Poll pg_stat_activity until the server has ended the session (bounded, not a race fix)."""
    import time

    deadline = time.monotonic() + 10
    with cluster.admin() as admin:
        while time.monotonic() < deadline:
            row = admin.execute(  # type: ignore[attr-defined]
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
            ).fetchone()
            if row[0] == 0:
                return
            time.sleep(0.02)
    raise AssertionError("the server did not end the idle-in-transaction session")
