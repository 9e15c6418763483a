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


# -- issue 10: privileges, passwords outside the command line, details ---------------------------

@contextlib.contextmanager
def _role(cluster: PostgresCluster, name: str, password: str, dbname: str) -> Iterator[str]:
    """A login role with a password (scram over TCP), dropped afterwards; yields its DSN."""
    with cluster.admin() as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{name}"')  # type: ignore[attr-defined]
        admin.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")  # type: ignore[attr-defined]
    try:
        yield cluster.dsn(dbname, user=name, password=password)
    finally:
        with cluster.admin() as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')  # type: ignore[attr-defined]


def _dbname(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1].partition("?")[0]


def test_a_role_without_pg_monitor_is_never_told_healthy(postgres_factory: Any, tmp_path: Any) -> None:
    """The issue's case: other roles hold 8 connections, 3 of them idle in transaction; the
    unprivileged role sees rows without state. It counts all 8, says what it cannot see and which
    grant fixes it, and exits 1 (incomplete); with pg_monitor the same role sees the 3 sessions.
    (A cluster of its own: nothing else, a PgBouncer's idle server connections say, is counted.)"""
    postgres_cluster: PostgresCluster = postgres_factory(max_connections=30)
    db = "postgres"
    with _role(postgres_cluster, "pw_watcher", "w-pass-10", db) as watcher, \
            _role(postgres_cluster, "pw_other", "o-pass-10", db) as other, \
            _connections(other, 3, "enricher", in_transaction=True), _connections(other, 5, "api"):
        text = cli("doctor", "--dsn", watcher)
        data = json.loads(cli("doctor", "--dsn", watcher, "--format", "json").stdout)
        metrics = cli("doctor", "--dsn", watcher, "--format", "prometheus").stdout
        cfg = tmp_path / "poolwarden.toml"
        cfg.write_text("[budget]\nmax_connections = 1000\n[[budget.service]]\nname = 'api'\n"
                       "[[budget.service.pool]]\npool_size = 5\nmax_overflow = 5\n")
        budget = json.loads(cli("budget", "--config", str(cfg), "--dsn", watcher, "--format", "json").stdout)
        with postgres_cluster.admin() as admin:
            admin.execute("GRANT pg_monitor TO pw_watcher")  # type: ignore[attr-defined]
        granted = cli("doctor", "--dsn", watcher)
    assert text.returncode == 1, text.stdout + text.stderr
    assert text.stdout.startswith("INCOMPLETE: "), text.stdout
    assert "(9 of 27)" in text.stdout.splitlines()[0]  # 8 hidden + the doctor itself
    assert "cannot see the state of 8 connection(s) of other roles (pw_other)" in text.stdout
    assert "GRANT pg_monitor TO pw_watcher" in text.stdout
    assert data["level"] == "incomplete" and data["complete"] is False and data["hidden_connections"] == 8
    assert data["in_use"] == 9 and not data["healthy"]
    assert "poolwarden_connections_hidden 8.0" in metrics and "poolwarden_doctor_level 1.0" in metrics
    assert budget["live_connections"] == 8
    assert granted.returncode == 1 and granted.stdout.startswith("WARNING: ")
    assert "3 session(s) idle in transaction, 3 from 'enricher'" in granted.stdout
    assert "cannot see" not in granted.stdout


def test_passwords_from_pgpassword_pgpassfile_and_poolwarden_dsn(postgres: str, postgres_cluster: PostgresCluster,
                                                                 tmp_path: Any) -> None:
    """No password on the command line: libpq's PGPASSWORD and PGPASSFILE work for every command
    that connects, and POOLWARDEN_DSN stands in for --dsn."""
    import os
    import subprocess
    import sys

    db = _dbname(postgres)
    with _role(postgres_cluster, "pw_envrole", "env-pass-10", db):
        bare = f"postgresql://pw_envrole@127.0.0.1:{postgres_cluster.port}/{db}"
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{postgres_cluster.port}:*:pw_envrole:env-pass-10\n")
        passfile.chmod(0o600)
        cfg = tmp_path / "poolwarden.toml"
        cfg.write_text("[budget]\nmax_connections = 1000\n[[budget.service]]\nname = 'api'\n"
                       "[[budget.service.pool]]\npool_size = 5\nmax_overflow = 5\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "POOLWARDEN_DSN"}

        def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "poolwarden", *args], env={**base, **env},
                                  capture_output=True, text=True, timeout=60, check=False)

        for env in ({"PGPASSWORD": "env-pass-10"}, {"PGPASSFILE": str(passfile)}):
            for extra in ({}, {"POOLWARDEN_DSN": bare}):
                args = () if extra else ("--dsn", bare)
                doctor = run({**env, **extra}, "doctor", *args)
                assert doctor.returncode in (0, 1) and "%" in doctor.stdout.splitlines()[0], doctor.stderr
                top = run({**env, **extra}, "top", *args, "--iterations", "1")
                assert top.returncode == 0 and "of usable connections" in top.stdout, top.stderr
                budget = run({**env, **extra}, "budget", "--config", str(cfg), *args, "--format", "json")
                assert json.loads(budget.stdout)["sources"]["max_connections"] == "server", budget.stderr
        wrong = run({"PGPASSWORD": "not-it", "POOLWARDEN_DSN": bare}, "doctor")
        assert wrong.returncode == 2 and "password authentication failed" in wrong.stderr
        assert "not-it" not in wrong.stderr
        # the exporter answers a scrape with the password from the environment
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "poolwarden", "exporter", "--port", str(port)],
                                env={**base, "PGPASSWORD": "env-pass-10", "POOLWARDEN_DSN": bare},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            body = _scrape(proc, port)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()
        assert "poolwarden_up 1.0" in body
        # drill reads POOLWARDEN_DSN too: a remote one is refused before any connection
        drill = run({"POOLWARDEN_DSN": "postgresql://app:hunter2@10.255.255.1/db"}, "drill", "--url",
                    f"http://127.0.0.1:{free_port()}/")
        assert drill.returncode == 2 and "10.255.255.1 (host from the DSN) is not this machine" in drill.stderr
        assert "hunter2" not in drill.stderr


def _scrape(proc: Any, port: int) -> str:
    import time

    import httpx

    for _ in range(400):  # until the exporter listens (bounded: 20 s)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exporter exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("exporter never answered")


def test_headline_and_table_count_the_same_connections(postgres_factory: Any) -> None:
    cluster: PostgresCluster = postgres_factory(max_connections=40)
    with contextlib.ExitStack() as stack:
        for i in range(18):  # more groups than the table shows
            stack.enter_context(_connections(cluster.dsn(), 1, f"app-{i:02d}"))
        text = cli("doctor", "--dsn", cluster.dsn()).stdout
    first = text.splitlines()[0]
    assert "(19 of 37)" in first
    total = [line for line in text.splitlines() if "total, as in the first line" in line]
    assert total and total[0].split()[-1] == "19"
    table = text.split("conns\n", 1)[1].split("\n\n")[0].splitlines()
    assert sum(int(line.split()[-1]) for line in table if "total" not in line) == 19


def test_fingerprints_replace_parameters_and_no_seed_jargon(postgres: str) -> None:
    with psycopg.connect(postgres, application_name="binder", connect_timeout=5) as conn:
        conn.execute("SELECT %s::int, %s::text", (7, "secret-value"))  # server-side $1, $2; left idle in tx
        data = json.loads(cli("doctor", "--dsn", postgres, "--format", "json").stdout)
        text = cli("doctor", "--dsn", postgres).stdout
    assert data["idle_in_transaction"][0]["query"] == "SELECT ?::int, ?::text"
    assert "$?" not in text and "secret-value" not in text
    assert "seed" not in text.lower()
    assert "transactions held open across slow calls" in text


def test_os_default_keepalive_is_not_left_off(postgres: str) -> None:
    data = json.loads(cli("doctor", "--dsn", postgres, "--format", "json").stdout)
    assert "tcp_keepalives_idle" not in {m["setting"] for m in data["missing_settings"]}


def test_idle_age_is_checked_before_connecting_and_takes_compound_durations(postgres: str) -> None:
    nowhere = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/db"
    for command in ("doctor", "top", "exporter"):
        proc = cli(command, "--dsn", nowhere, "--idle-age", "1h30")
        assert proc.returncode == 2 and "--idle-age: '1h30' is not a duration" in proc.stderr, proc.stderr
    with _connections(postgres, 5, "scheduler"):
        ok = cli("doctor", "--dsn", postgres, "--idle-age", "1h30m", "--min-idle", "5")
        young = cli("doctor", "--dsn", postgres, "--idle-age", "0m0s", "--min-idle", "5")
    assert ok.returncode == 0 and "leak suspect" not in ok.stdout
    assert "'scheduler' keeps 5 connections idle" in young.stdout


def test_metrics_emit_zero_valued_series(postgres: str) -> None:
    text = cli("doctor", "--dsn", postgres, "--format", "prometheus").stdout
    db = _dbname(postgres)
    assert f'pg_stat_activity_count{{datname="{db}",state="idle in transaction"}} 0.0' in text
    assert f'pg_stat_activity_count{{datname="{db}",state="active"}} 0.0' in text
    assert "poolwarden_idle_in_transaction_sessions 0.0" in text
    with _connections(postgres, 2, "worker"):
        busy = cli("doctor", "--dsn", postgres, "--format", "prometheus").stdout
    assert 'poolwarden_connections{application_name="worker",state="idle in transaction"} 0.0' in busy
    assert 'poolwarden_connections{application_name="worker",state="idle"} 2.0' in busy
    assert 'poolwarden_leak_suspect_idle_connections{application_name="worker"} 0.0' in busy


def test_top_quits_on_q_and_keeps_the_terminal_clean(postgres: str) -> None:
    """On a real pseudo-terminal: typed keys are not echoed over the screen, q quits (exit 0), and
    the terminal's echo is back on afterwards."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "poolwarden", "top", "--dsn", postgres, "--interval", "0.2"],
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    out = b""

    def read_until(needle: bytes, bound: float = 30.0, count: int = 1) -> None:
        nonlocal out
        end = time.monotonic() + bound
        while out.count(needle) < count:
            assert time.monotonic() < end, out.decode(errors="replace")
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                out += os.read(master, 65536)

    try:
        read_until(b"q quits")
        assert not termios.tcgetattr(slave)[3] & termios.ECHO  # echo off while top runs
        mark = len(out)
        os.write(master, b"zzkk")
        read_until(b"q quits", 30.0, out.count(b"q quits") + 2)  # two refreshes after the keys
        os.write(master, b"q")
        proc.wait(timeout=20)
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.2)[0]:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                out += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert b"zzkk" not in out[mark:]
    assert termios.tcgetattr(slave)[3] & termios.ECHO  # restored
    os.close(master)
    os.close(slave)
