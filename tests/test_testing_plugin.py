"""The pytest plugin itself: binaries lookup, cluster settings, saturation, leak assertion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from poolwarden.testing.cluster import PostgresCluster, PostgresNotFound, find_pg_bin
from poolwarden.testing.plugin import assert_no_connection_leaks


def test_a_wrong_explicit_bin_dir_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLWARDEN_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresNotFound, match=f"POOLWARDEN_PG_BIN={tmp_path} holds no initdb"):
        find_pg_bin()


def test_nothing_found_lists_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLWARDEN_PG_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(PostgresNotFound) as info:
        find_pg_bin()
    message = str(info.value)
    assert "PATH (no pg_ctl)" in message and "/usr/lib/postgresql/*/bin" in message
    assert "POOLWARDEN_PG_BIN" in message


def test_factory_applies_settings(postgres_factory: Any) -> None:
    cluster: PostgresCluster = postgres_factory(max_connections=7, idle_in_transaction_session_timeout="2s")
    with cluster.admin() as conn:
        assert conn.execute("SHOW max_connections").fetchone()[0] == "7"  # type: ignore[attr-defined]
        row = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()  # type: ignore[attr-defined]
        assert row[0] == "2s"


def test_saturation_makes_the_server_refuse_and_is_released(
    postgres_cluster: PostgresCluster, pg_saturate: Any
) -> None:
    with pg_saturate(postgres_cluster) as held:
        assert len(held) >= 3
        with pytest.raises(psycopg.OperationalError, match="too many clients already"):
            psycopg.connect(postgres_cluster.dsn(), connect_timeout=5)
    with assert_no_connection_leaks(postgres_cluster), psycopg.connect(postgres_cluster.dsn(), connect_timeout=5):
        pass


def test_a_leak_fails_and_names_the_application(postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = None
    leaked = r"1 backend\(s\) left behind: leaky \[idle\]"
    with pytest.raises(pytest.fail.Exception, match=leaked), assert_no_connection_leaks(postgres_cluster, settle=0.5):
        conn = psycopg.connect(postgres, application_name="leaky", autocommit=True)
    assert conn is not None
    conn.close()


def test_terminate_outage_drops_and_refuses_then_comes_back(postgres: str, postgres_cluster: PostgresCluster,
                                                            pg_outage: Any) -> None:
    from poolwarden.runtime.errors import ErrorKind, classify

    conn = psycopg.connect(postgres, autocommit=True, connect_timeout=5)
    try:
        with pg_outage(postgres_cluster, mode="terminate"):
            with pytest.raises(psycopg.OperationalError) as dropped:
                conn.execute("SELECT 1")
            with pytest.raises(psycopg.OperationalError) as refused:
                psycopg.connect(postgres, connect_timeout=5)
    finally:
        conn.close()
    assert classify(dropped.value) is ErrorKind.CONNECTION
    assert classify(refused.value) is ErrorKind.CONNECTION
    with psycopg.connect(postgres, connect_timeout=5) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)
