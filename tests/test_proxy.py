"""testing.proxy: the network faults, seen by a real PostgreSQL client."""

from __future__ import annotations

import psycopg
import pytest

from poolwarden.runtime.errors import is_transient
from poolwarden.testing.cluster import PostgresCluster
from poolwarden.testing.proxy import TcpProxy


def test_forward_reset_refuse_partition_heal(postgres: str, postgres_cluster: PostgresCluster) -> None:
    with TcpProxy(postgres_cluster.host, postgres_cluster.port) as proxy:
        dsn = proxy.dsn(postgres)
        assert f":{proxy.port}/" in dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            proxy.reset()
            with pytest.raises(psycopg.OperationalError) as reset:
                conn.execute("SELECT 1")
            assert is_transient(reset.value)
        proxy.refuse()
        with pytest.raises(psycopg.OperationalError, match="refused") as refused:
            psycopg.connect(dsn, connect_timeout=5)
        assert is_transient(refused.value)
        proxy.heal()
        proxy.partition()
        accepted = proxy.accepted
        with pytest.raises(psycopg.OperationalError) as silent:  # accepted, never answered: libpq's 2 s floor
            psycopg.connect(dsn, connect_timeout=2)
        assert proxy.accepted == accepted + 1 and is_transient(silent.value)
        proxy.heal()
        proxy.delay = 0.01
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 2").fetchone() == (2,)
