"""What PW111 reports, failing for real behind a real PgBouncer in transaction mode.

Two clients, A and B, reach one database through a PgBouncer (1.18: no protocol-level prepared
statements) with ``default_pool_size = 2``. A leaves session state on server connection S1 in one
transaction (autocommit: each statement is one). B then opens a transaction: PgBouncer hands it the
most recently used idle server connection (LIFO, ``server_round_robin = 0``), S1 — the test asserts it
by backend pid — and B sees A's state. While B holds S1, A's next transaction runs on a second server
connection, S2, where the state is missing. Every assertion is on an observed value or the exact
server error; the one negative wait (LISTEN) is bounded (0.5 s) and paired with a direct listener that
proves the notification was sent, and with B receiving it instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import psycopg
import pytest

from poolwarden.testing.pgbouncer import PgBouncer


@pytest.fixture(scope="module")
def bouncer(pgbouncer_factory: Any) -> PgBouncer:
    """Transaction pooling, two server connections per database: clients share them."""
    bouncer: PgBouncer = pgbouncer_factory(default_pool_size=2)
    return bouncer


@pytest.fixture
def through(bouncer: PgBouncer, postgres: str) -> Iterator[str]:
    """The DSN of this test's database through PgBouncer; its pooled server connections are closed
    afterwards (their locks, temp tables and cursors go with them), before the leak check."""
    dbname = postgres.rsplit("/", 1)[1]
    try:
        yield bouncer.dsn(dbname)
    finally:
        bouncer.release(dbname)


def _client(dsn: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5, prepare_threshold=None)


def _pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _pin(b: psycopg.Connection[Any], s1: int) -> None:
    """B (not autocommit) opens a transaction on S1, the server connection A just used."""
    assert _pid(b) == s1, "PgBouncer did not hand B the server connection A used (LIFO expected)"


def test_set_leaks_to_another_client_and_is_lost(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        a.execute("SET statement_timeout = '1234ms'")
        s1 = _pid(a)
        _pin(b, s1)
        assert b.execute("SHOW statement_timeout").fetchone() == ("1234ms",)  # B inherits A's setting
        assert _pid(a) != s1
        assert a.execute("SHOW statement_timeout").fetchone() == ("0",)  # and A runs without it
        b.rollback()


def test_set_local_stays_in_its_transaction(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        with a.transaction():
            a.execute("SET LOCAL statement_timeout = '1234ms'")
            s1 = _pid(a)
        _pin(b, s1)
        assert b.execute("SHOW statement_timeout").fetchone() == ("0",)
        b.rollback()


def test_session_advisory_lock_cannot_be_released(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        row = a.execute("SELECT pg_advisory_lock(42), pg_backend_pid()").fetchone()
        assert row is not None
        s1 = int(row[1])
        _pin(b, s1)
        held = b.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 "
                         "AND pid = pg_backend_pid() AND granted").fetchone()
        assert held == (1,)  # the lock is held by the server connection B now uses
        assert a.execute("SELECT pg_advisory_unlock(42)").fetchone() == (False,)  # A's unlock runs on S2
        assert a.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (False,)  # A cannot take it again
        b.rollback()


def test_listen_notification_goes_to_another_client(through: str, postgres: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b, _client(postgres) as direct, \
            _client(postgres) as sender:
        a.execute("LISTEN pw111")
        s1 = _pid(a)
        _pin(b, s1)  # B's transaction holds S1, the server connection that listens
        direct.execute("LISTEN pw111")
        sender.execute("NOTIFY pw111, 'hello'")
        delivered = [n.payload for n in direct.notifies(timeout=10, stop_after=1)]
        assert delivered == ["hello"]  # the notification was sent, and delivered to a listening session
        assert _pid(a) != s1  # A's next transaction runs on S2 ...
        assert list(a.notifies(timeout=0.5, stop_after=1)) == []  # ... and A, the listener, gets nothing (bounded)
        b.rollback()  # S1 delivers it when B's transaction ends: to B, which never listened
        assert [n.payload for n in b.notifies(timeout=10, stop_after=1)] == ["hello"]


def test_prepared_statement_does_not_exist_on_the_next_connection(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        a.execute("PREPARE q AS SELECT 40 + 2")
        s1 = _pid(a)
        _pin(b, s1)
        assert b.execute("EXECUTE q").fetchone() == (42,)  # B runs A's prepared statement
        with pytest.raises(psycopg.errors.InvalidSqlStatementName, match='prepared statement "q" does not exist'):
            a.execute("EXECUTE q")
        b.rollback()


def test_temp_table_visible_to_another_client_and_gone(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        a.execute("CREATE TEMP TABLE scratch AS SELECT 7 AS n")
        s1 = _pid(a)
        _pin(b, s1)
        assert b.execute("SELECT n FROM scratch").fetchone() == (7,)
        with pytest.raises(psycopg.errors.UndefinedTable, match='relation "scratch" does not exist'):
            a.execute("SELECT n FROM scratch")
        b.rollback()


def test_with_hold_cursor_gone(through: str) -> None:
    with _client(through) as a, _client(through, autocommit=False) as b:
        a.execute("DECLARE c CURSOR WITH HOLD FOR SELECT generate_series(1, 3)")
        s1 = _pid(a)
        _pin(b, s1)
        assert b.execute("FETCH 1 FROM c").fetchone() == (1,)  # B reads A's cursor
        with pytest.raises(psycopg.errors.InvalidCursorName, match='cursor "c" does not exist'):
            a.execute("FETCH 1 FROM c")
        b.rollback()


async def _rerun_asyncpg(dsn: str, **options: Any) -> tuple[int, object]:
    """A runs one query (prepared and cached on S1), B pins S1, A runs the same query again (on S2)."""
    a = await asyncpg.connect(dsn, timeout=5, **options)
    try:
        s1 = await a.fetchval("SELECT pg_backend_pid()")
        with _client(dsn, autocommit=False) as b:
            _pin(b, s1)
            try:
                again: object = await a.fetchval("SELECT pg_backend_pid()")
            except asyncpg.PostgresError as exc:
                again = exc
            b.rollback()
        return s1, again
    finally:
        await a.close()


def test_asyncpg_statement_cache_breaks_and_off_works(through: str) -> None:
    s1, again = asyncio.run(_rerun_asyncpg(through))
    assert isinstance(again, asyncpg.exceptions.InvalidSQLStatementNameError)
    assert "does not exist" in str(again) and "__asyncpg_stmt_" in str(again)
    s1, again = asyncio.run(_rerun_asyncpg(through, statement_cache_size=0))
    assert isinstance(again, int) and again != s1  # unnamed statements: the query simply runs on S2


def test_psycopg_prepared_statement_does_not_exist_and_unprepared_works(through: str) -> None:
    with psycopg.connect(through, autocommit=True, connect_timeout=5) as a, _client(through, autocommit=False) as b:
        row = a.execute("SELECT pg_backend_pid()", prepare=True).fetchone()  # prepared on S1 as _pg3_0
        assert row is not None
        _pin(b, int(row[0]))
        with pytest.raises(psycopg.errors.InvalidSqlStatementName, match='prepared statement "_pg3_0" does not exist'):
            a.execute("SELECT pg_backend_pid()", prepare=True)  # psycopg runs its statement on S2
        assert a.execute("SELECT pg_backend_pid()", prepare=False).fetchone() != row  # unprepared: runs on S2
        b.rollback()
