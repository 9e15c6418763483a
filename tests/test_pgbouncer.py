"""The pgbouncer fixture, and PgBouncer's own errors classified by runtime.errors."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from poolwarden.runtime.errors import ErrorKind, classify
from poolwarden.testing.cluster import PostgresCluster
from poolwarden.testing.plugin import assert_no_connection_leaks


def test_queries_pass_through_in_transaction_mode(pgbouncer: Any, postgres: str) -> None:
    dbname = postgres.rsplit("/", 1)[1]
    with psycopg.connect(pgbouncer.dsn(dbname), connect_timeout=5, prepare_threshold=None) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pools = {row["database"]: row for row in pgbouncer.show("POOLS")}
    assert pools[dbname]["pool_mode"] == "transaction"
    pgbouncer.release(dbname)  # PgBouncer keeps the server connection pooled; the leak check would see it


def test_max_client_conn_is_a_connection_error(pgbouncer_factory: Any, postgres_cluster: PostgresCluster) -> None:
    bouncer = pgbouncer_factory(max_client_conn=1)
    with assert_no_connection_leaks(postgres_cluster):
        with psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None), \
                pytest.raises(psycopg.OperationalError) as info:
            psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None)
        bouncer.release("postgres")
    assert "no more connections allowed" in str(info.value)
    assert classify(info.value) is ErrorKind.CONNECTION


def test_query_wait_timeout_is_a_connection_error(pgbouncer_factory: Any, postgres_cluster: PostgresCluster) -> None:
    bouncer = pgbouncer_factory(default_pool_size=1, query_wait_timeout=1)
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            with psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            errors.append(exc)

    with assert_no_connection_leaks(postgres_cluster):
        with psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None) as holder:
            holder.execute("SELECT 1")  # holds the only server connection: a transaction is open
            thread = threading.Thread(target=waiter)
            thread.start()
            thread.join(timeout=30)
            holder.rollback()
        bouncer.release("postgres")
    assert len(errors) == 1
    assert "query_wait_timeout" in str(errors[0])
    assert classify(errors[0]) is ErrorKind.CONNECTION
