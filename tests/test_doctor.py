"""poolwarden doctor on a real server, in the seeds' situations: it names each in its verdict."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg

from poolwarden.testing.cluster import PostgresCluster, free_port

from .conftest import cli


@contextlib.contextmanager
def _connections(dsn: str, n: int, app: str, in_transaction: bool = False) -> Iterator[list[psycopg.Connection[Any]]]:
    conns = [psycopg.connect(dsn, application_name=app, connect_timeout=5, autocommit=not in_transaction)
             for _ in range(n)]
    try:
        for conn in conns:
            conn.execute("SELECT 42, 'secret-value'")  # in a transaction: left open, idle in transaction
        yield conns
    finally:
        for conn in conns:
            conn.close()


def test_enricher_idle_in_transaction_is_named(postgres: str) -> None:
    with _connections(postgres, 3, "enricher", in_transaction=True):
        text = cli("doctor", "--dsn", postgres)
        data = json.loads(cli("doctor", "--dsn", postgres, "--format", "json").stdout)
    assert text.returncode == 1
    first_lines = text.stdout.splitlines()[:2]
    assert first_lines[0].startswith("WARNING: ")
    assert "3 session(s) idle in transaction, 3 from 'enricher'" in first_lines[1]
    assert data["level"] == "warning" and len(data["idle_in_transaction"]) == 3
    assert {d["application_name"] for d in data["idle_in_transaction"]} == {"enricher"}
    assert data["idle_in_transaction"][0]["query"] == "SELECT ?, ?"  # literals removed
    assert "secret-value" not in text.stdout


def test_aging_idle_connections_from_one_app_are_leak_suspects(postgres: str) -> None:
    with _connections(postgres, 24, "scheduler"):
        proc = cli("doctor", "--dsn", postgres, "--idle-age", "0s", "--min-idle", "20")
        data = json.loads(cli("doctor", "--dsn", postgres, "--idle-age", "0s", "--min-idle", "20",
                              "--format", "json").stdout)
    assert proc.returncode == 1
    assert "'scheduler' keeps 24 connections idle" in proc.stdout.splitlines()[1]
    assert data["leak_suspects"][0]["application_name"] == "scheduler"


def test_utilisation_past_70_percent_and_settings_advice(postgres_factory: Any) -> None:
    cluster: PostgresCluster = postgres_factory(max_connections=20, superuser_reserved_connections=3)
    with _connections(cluster.dsn(), 13, "api"):
        data = json.loads(cli("doctor", "--dsn", cluster.dsn(), "--format", "json").stdout)
        text = cli("doctor", "--dsn", cluster.dsn()).stdout
    assert data["usable"] == 17 and data["in_use"] == 14  # 13 + the doctor's own connection
    assert data["level"] == "warning"
    assert text.startswith("WARNING: 82% of usable connections in use (14 of 17); most from api 13")
    assert {m["setting"] for m in data["missing_settings"]} >= {"idle_in_transaction_session_timeout",
                                                               "statement_timeout"}


def test_healthy_server_exits_0_and_doctor_leaves_nothing_behind(postgres: str) -> None:
    proc = cli("doctor", "--dsn", postgres)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("HEALTHY: ")
    # the postgres fixture's leak guard fails this test if the doctor's backend stayed


def test_unreachable_server_is_one_line_exit_2_with_the_password_masked() -> None:
    proc = cli("doctor", "--dsn", f"postgresql://app:hunter2@127.0.0.1:{free_port()}/db")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "hunter2" not in proc.stderr and "app:***@" in proc.stderr


def test_clients_waiting_in_pgbouncer_are_named(pgbouncer_factory: Any, postgres_cluster: PostgresCluster) -> None:
    import threading

    bouncer = pgbouncer_factory(default_pool_size=1, query_wait_timeout=20)
    done = threading.Event()

    def waiter() -> None:
        with contextlib.suppress(psycopg.Error), \
                psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None) as conn:
            conn.execute("SELECT 1")
        done.set()

    with psycopg.connect(bouncer.dsn(), connect_timeout=5, prepare_threshold=None) as holder:
        holder.execute("SELECT 1")  # the only server connection, held in a transaction
        thread = threading.Thread(target=waiter)
        thread.start()
        for _ in range(100):  # until PgBouncer reports the waiting client (bounded)
            pools = {p["database"]: p for p in bouncer.show("POOLS")}
            if int(pools.get("postgres", {}).get("cl_waiting", 0)) > 0:
                break
            done.wait(0.05)
        proc = cli("doctor", "--dsn", postgres_cluster.dsn(), "--pgbouncer", bouncer.dsn("pgbouncer"))
        holder.rollback()
    thread.join(timeout=30)
    bouncer.release("postgres")
    assert proc.returncode == 1
    assert "1 client(s) waiting in PgBouncer for a server connection" in proc.stdout


def test_prometheus_format_and_exporter(postgres: str) -> None:
    import subprocess
    import sys
    import time

    import httpx

    with _connections(postgres, 2, "enricher", in_transaction=True):
        text = cli("doctor", "--dsn", postgres, "--format", "prometheus").stdout
        assert "poolwarden_idle_in_transaction_sessions 2.0" in text
        assert "pg_settings_max_connections 40.0" in text
        assert 'pg_stat_activity_count{datname="' in text
        port = free_port()
        command = [sys.executable, "-m", "poolwarden", "exporter", "--dsn", postgres, "--port", str(port)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            body = ""
            for _ in range(200):  # until the exporter listens (bounded)
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exporter exited"
                try:
                    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert 'poolwarden_connections{application_name="enricher",state="idle in transaction"} 2.0' in body
            assert "poolwarden_doctor_level 1.0" in body
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()


def test_top_refreshes_and_stops(postgres: str) -> None:
    with _connections(postgres, 2, "enricher", in_transaction=True):
        proc = cli("top", "--dsn", postgres, "--interval", "0.1", "--iterations", "2")
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" in proc.stdout and "enricher" in proc.stdout


def test_one_connection_only_and_wrong_password(postgres: str) -> None:
    data = json.loads(cli("doctor", "--dsn", postgres, "--format", "json").stdout)
    # the doctor counts itself once (in_use) and sees no second connection of its own
    assert data["in_use"] == sum(g["connections"] for g in data["groups"]) + 1
    assert not [g for g in data["groups"] if g["application_name"] == "poolwarden-doctor"]
    bad = cli("doctor", "--dsn", postgres.replace("postgres:postgres@", "postgres:wr0ng-pw@"))
    assert bad.returncode == 2 and "wr0ng-pw" not in bad.stderr and "password authentication failed" in bad.stderr
