"""runtime.errors on writes cut off mid-flight (issue 11, item 3): real writes, real faults.

A write is held at a gate — a constraint trigger that waits for an advisory lock another session
holds — so that it is certainly running on the server when the fault strikes: an UPDATE in
autocommit (the trigger fires at the end of the statement), or a COMMIT (the trigger deferred to
commit time). Then the network resets the connection (``TcpProxy.reset``) or PgBouncer's
``query_timeout`` closes it, the gate opens, and the server finishes what it was doing: an
autocommit UPDATE or a COMMIT commits although the client got an error — AMBIGUOUS, and the row
shows it. The same UPDATE inside an explicit transaction is rolled back by the server — CONNECTION,
retry the transaction — and the row shows that too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolwarden.runtime.errors import ErrorKind, classify, is_transient, transaction_context
from poolwarden.runtime.inflight import is_commit, is_retry_safe
from poolwarden.testing.cluster import PostgresCluster
from poolwarden.testing.proxy import TcpProxy

from .test_runtime_errors import DRIVERS, AsyncDriver, Asyncpg, Driver, _close_quietly

GATE_KEY = 4242
SCHEMA = f"""
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
INSERT INTO accounts VALUES (1, 0);
CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_advisory_xact_lock({GATE_KEY}); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER gate AFTER UPDATE ON accounts DEFERRABLE INITIALLY IMMEDIATE
  FOR EACH ROW EXECUTE FUNCTION gate();
CREATE FUNCTION charge() RETURNS int LANGUAGE sql AS
  $$ UPDATE accounts SET balance = balance + 1 WHERE id = 1 RETURNING balance $$;
"""
CHARGE = "UPDATE accounts SET balance = balance + 1 WHERE id = 1"


class Gate:
    """The database of one test, with its gate closed until :meth:`open`."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.dbname = dsn.rsplit("/", 1)[1]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
        self.holder = psycopg.connect(dsn, autocommit=True, application_name="pw-gate")
        self.holder.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))

    def waiting(self, statement: str) -> int:
        """The pid of the backend running ``statement`` and waiting at the gate (bounded poll)."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            row = self.holder.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", (self.dbname,)).fetchone()
            if row is not None:
                assert row[1].upper().startswith(statement), row
                return int(row[0])
            time.sleep(0.01)  # polling the server's view; the write stays held at the gate meanwhile
        raise AssertionError(f"no {statement} waiting at the gate")

    def open_and_settle(self, pid: int) -> int:
        """Open the gate, wait (bounded) until the cut-off backend ``pid`` has finished and gone;
        the balance it left."""
        self.holder.execute("SELECT pg_advisory_unlock(%s)", (GATE_KEY,))
        deadline = time.monotonic() + 15
        while self.holder.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} did not finish"
            time.sleep(0.01)
        row = self.holder.execute("SELECT balance FROM accounts WHERE id = 1").fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.holder.close()


@pytest.fixture
def gate(postgres: str) -> Iterator[Gate]:
    g = Gate(postgres)
    try:
        yield g
    finally:
        g.close()


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Driver:
    return DRIVERS[request.param]()


def _begin(driver: Driver, conn: Any) -> Any:
    """Open an explicit transaction the driver's own way; its handle for :func:`_commit`."""
    if isinstance(driver, Asyncpg):
        tr = conn.transaction()
        driver.run(tr.start())
        return tr
    return None  # psycopg, psycopg2 and SQLAlchemy begin one themselves (autocommit off)


def _commit(driver: Driver, conn: Any, tr: Any) -> None:
    """Commit the driver's own way: ``commit()`` of the connection, asyncpg's Transaction."""
    if tr is not None:
        driver.run(tr.commit())  # type: ignore[attr-defined]
    elif isinstance(driver, AsyncDriver):
        driver.run(conn.commit())
    else:
        conn.commit()


def _reset_while_waiting(gate: Gate, proxy: TcpProxy, statement: str, action: Callable[[], object]) -> tuple[
        BaseException, int]:
    """Run ``action`` (it sends ``statement``, which waits at the gate) in a thread, reset the
    proxy once the server shows the statement waiting, return the error and the backend's pid."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        pid = gate.waiting(statement)
        proxy.reset()
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1, "the cut-off request did not fail"
    return errors[0], pid


def _check(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind, f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert is_transient(exc)  # AMBIGUOUS is not an answer either


@pytest.fixture
def proxy(postgres_cluster: PostgresCluster) -> Iterator[TcpProxy]:
    with TcpProxy(postgres_cluster.host, postgres_cluster.port) as p:
        yield p


# -- a network reset under the write --------------------------------------------------------------

def test_autocommit_write_reset_mid_flight_is_ambiguous(driver: Driver, gate: Gate, proxy: TcpProxy) -> None:
    # the counter-case first: inside an explicit transaction, before COMMIT, the server rolls back
    conn = driver.connect(proxy.dsn(gate.dsn))
    try:
        _begin(driver, conn)
        exc, pid = _reset_while_waiting(gate, proxy, "UPDATE", lambda: driver.execute(conn, CHARGE))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.CONNECTION)
    assert gate.open_and_settle(pid) == 0  # rolled back: retrying the transaction is safe

    gate.holder.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))
    conn = driver.connect(proxy.dsn(gate.dsn), autocommit=True)
    try:
        exc, pid = _reset_while_waiting(gate, proxy, "UPDATE", lambda: driver.execute(conn, CHARGE))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.AMBIGUOUS)
    assert gate.open_and_settle(pid) == 1  # the client saw an error; the write committed


def test_commit_reset_mid_flight_is_ambiguous(driver: Driver, gate: Gate, proxy: TcpProxy) -> None:
    conn = driver.connect(proxy.dsn(gate.dsn))
    try:
        tr = _begin(driver, conn)
        driver.execute(conn, "SET CONSTRAINTS gate DEFERRED")  # the gate now waits in COMMIT
        driver.execute(conn, CHARGE)
        exc, pid = _reset_while_waiting(gate, proxy, "COMMIT", lambda: _commit(driver, conn, tr))
    finally:
        _close_quietly(driver, conn)
    _check(exc, ErrorKind.AMBIGUOUS)
    assert gate.open_and_settle(pid) == 1  # committed


def test_the_caller_can_say_a_select_writes(gate: Gate, proxy: TcpProxy) -> None:
    """``SELECT charge()`` looks like a read: by its SQL text alone it is CONNECTION although it
    committed (the documented limit of reading SQL); ``transaction_context(in_transaction=False)``
    — or ``classify(exc, in_transaction=False)`` — says it can commit on its own: AMBIGUOUS."""
    conn = psycopg.connect(proxy.dsn(gate.dsn), autocommit=True, connect_timeout=5)
    try:
        plain, pid = _reset_while_waiting(gate, proxy, "SELECT", lambda: conn.execute("SELECT charge()"))
    finally:
        conn.close()
    assert classify(plain) is ErrorKind.CONNECTION
    assert classify(plain, in_transaction=False) is ErrorKind.AMBIGUOUS
    assert gate.open_and_settle(pid) == 1

    gate.holder.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))
    conn = psycopg.connect(proxy.dsn(gate.dsn), autocommit=True, connect_timeout=5)

    def charge() -> None:
        with transaction_context(in_transaction=False):
            conn.execute("SELECT charge()")

    try:
        told, pid = _reset_while_waiting(gate, proxy, "SELECT", charge)
    finally:
        conn.close()
    _check(told, ErrorKind.AMBIGUOUS)
    assert classify(told, in_transaction=True) is ErrorKind.CONNECTION  # the keyword wins over the block
    assert gate.open_and_settle(pid) == 2


def test_a_reset_while_connecting_stays_connection(driver: Driver, postgres: str, proxy: TcpProxy) -> None:
    """A guard (it passed before this change too): nothing was sent on a connection reset during
    its start-up, so the in-flight rules must leave it CONNECTION."""
    proxy.partition()  # connections are accepted and held, unanswered
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _close_quietly(driver, driver.connect(proxy.dsn(postgres)))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while proxy.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the proxy's accept count, bounded
        proxy.reset()
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive() and len(errors) == 1
    _check(errors[0], ErrorKind.CONNECTION)


# -- PgBouncer's query_timeout under the write ----------------------------------------------------

@pytest.fixture(scope="module")
def bouncer(pgbouncer_factory: Any) -> Any:
    # one server connection per database: SQLAlchemy + asyncpg's prepared statements stay on it
    return pgbouncer_factory(default_pool_size=1, query_timeout=0.5)


def _killed_by_query_timeout(driver: Driver, gate: Gate, bouncer: Any, *, autocommit: bool) -> tuple[
        BaseException, int]:
    conn = driver.connect(bouncer.dsn(gate.dbname), autocommit=autocommit)
    try:
        if not autocommit:
            _begin(driver, conn)
        exc: BaseException | None = None
        try:
            driver.execute(conn, CHARGE)  # held at the gate until PgBouncer gives up on it
        except Exception as error:
            exc = error
        assert exc is not None, "PgBouncer let the query run"
        pid = gate.waiting("UPDATE")  # the server still runs it, after the client got its error
    finally:
        _close_quietly(driver, conn)
    return exc, pid


def test_pgbouncer_query_timeout_under_a_write(driver: Driver, gate: Gate, bouncer: Any) -> None:
    """PgBouncer answers ``query timeout`` and closes both sides; the server, still waiting at the
    gate, goes on: it rolls back a transaction's UPDATE (CONNECTION) and commits an autocommit
    UPDATE (AMBIGUOUS)."""
    exc, pid = _killed_by_query_timeout(driver, gate, bouncer, autocommit=False)
    _check(exc, ErrorKind.CONNECTION)
    assert gate.open_and_settle(pid) == 0

    gate.holder.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))
    exc, pid = _killed_by_query_timeout(driver, gate, bouncer, autocommit=True)
    _check(exc, ErrorKind.AMBIGUOUS)
    assert gate.open_and_settle(pid) == 1
    bouncer.release(gate.dbname)  # PgBouncer may keep a server connection pooled; the leak check would see it


# -- the statement rules --------------------------------------------------------------------------

_SAFE = ["SELECT 1", "select * from t for update", "SHOW work_mem", "VALUES (1)", "TABLE t", "FETCH 10 FROM c",
         "EXPLAIN SELECT 1", "BEGIN", "START TRANSACTION", "ROLLBACK", "ROLLBACK TO SAVEPOINT s", "SAVEPOINT s",
         "RELEASE SAVEPOINT s", "SET statement_timeout = 0", "RESET ALL", "DEALLOCATE ALL"]
_WRITES = ["UPDATE t SET v = 1", "INSERT INTO t VALUES (1)", "DELETE FROM t", "MERGE INTO t USING s ON true "
           "WHEN MATCHED THEN DELETE", "WITH x AS (DELETE FROM t RETURNING 1) SELECT * FROM x", "CALL p()",
           "DO $$ BEGIN END $$", "SELECT * INTO t2 FROM t", "EXPLAIN ANALYZE DELETE FROM t", "COPY t FROM STDIN",
           "ROLLBACK PREPARED 'x'", "CREATE TABLE t2 (a int)", "TRUNCATE t", "VACUUM t", "NOTIFY c"]
_COMMITS = ["COMMIT", "commit and chain", "END", "END TRANSACTION", "COMMIT PREPARED 'x'", "PREPARE TRANSACTION 'x'"]
_NOISE = st.sampled_from(["", " ", "\n", "\t", "-- note\n", "/* c */", "/* a\n b */ ", "  -- x\n  "])


@settings(max_examples=150, deadline=None)
@given(before=_NOISE, after=_NOISE, safe=st.sampled_from(_SAFE), other=st.sampled_from(_WRITES + _COMMITS),
       case=st.booleans())
def test_a_write_or_a_commit_anywhere_makes_sql_unsafe(before: str, after: str, safe: str, other: str,
                                                       case: bool) -> None:
    safe = safe.lower() if case else safe
    assert is_retry_safe(f"{before}{safe}{after}")
    assert not is_commit(f"{before}{safe}{after}")
    for mixed in (f"{safe}; {before}{other}", f"{before}{other};{after}{safe}"):
        assert not is_retry_safe(mixed), mixed
        assert is_commit(mixed) is (other in _COMMITS), mixed


@settings(max_examples=150, deadline=None)
@given(sql=st.text(max_size=60), other=st.sampled_from(_WRITES + _COMMITS))
def test_no_text_hides_a_write_that_follows_it(sql: str, other: str) -> None:
    assert not is_retry_safe(f"{sql};{other}")
    assert is_commit(f"{sql};{other}") or other not in _COMMITS
    if is_retry_safe(sql):
        assert not is_commit(sql)


# -- a client-side statement deadline under the write (asyncpg's command_timeout) ------------------

@pytest.mark.parametrize("name", ["asyncpg", "sqlalchemy-async+asyncpg"])
def test_command_timeout_under_a_write_is_ambiguous(name: str, gate: Gate) -> None:
    """asyncpg's ``command_timeout`` gives up client-side (``TimeoutError``) and sends a cancel: a
    read held at the gate is CONNECTION; an autocommit write is AMBIGUOUS — the cancel is a request,
    and a statement can commit before it arrives."""
    import asyncio

    import asyncpg
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def run(sql: str) -> BaseException:
        try:
            if name == "asyncpg":
                conn = await asyncpg.connect(gate.dsn, command_timeout=0.3)
                try:
                    await conn.execute(sql)
                finally:
                    await conn.close()
            else:
                engine = create_async_engine(gate.dsn.replace("postgresql://", "postgresql+asyncpg://"),
                                             connect_args={"command_timeout": 0.3}, poolclass=NullPool,
                                             isolation_level="AUTOCOMMIT")
                try:
                    async with engine.connect() as conn:
                        await conn.execute(sqlalchemy.text(sql))
                finally:
                    await engine.dispose()
        except Exception as exc:
            return exc
        raise AssertionError("the statement was not timed out")

    read = asyncio.run(run(f"SELECT pg_advisory_xact_lock({GATE_KEY})"))
    write = asyncio.run(run(CHARGE))
    assert isinstance(read, TimeoutError) and isinstance(write, TimeoutError), (read, write)
    _check(read, ErrorKind.CONNECTION)
    _check(write, ErrorKind.AMBIGUOUS)
