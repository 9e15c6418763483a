"""``budget --prometheus``, end to end with real parts: a throwaway PostgreSQL, app processes holding
real pools (SQLAlchemy, psycopg_pool) instrumented with ``instrument()`` and serving their metrics
over HTTP (poolwarden's ``PoolCollector``, its ``otel_metrics`` through the OTel SDK's Prometheus exporter), Debian's
postgres_exporter for ``pg_stat_activity_count``, and a real Prometheus scraping them every second.
Each app is told to hold a known number of connections; the test waits (bounded) until Prometheus
has scraped that number, then reads the peaks back through ``poolwarden budget --prometheus``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from poolwarden.testing.cluster import free_port
from poolwarden.testing.prometheus import Prometheus
from poolwarden.testing.servers import dying_with_parent, end_process

from .adversarial.contract import budget_toml

ROOT = Path(__file__).resolve().parents[1]
APP = Path(__file__).with_name("prometheus_app.py")
EXPORTER = "/usr/bin/prometheus-postgres-exporter"
WINDOW = ("--prometheus-window", "10m", "--prometheus-step", "1s")

pytestmark = pytest.mark.skipif(not Path(EXPORTER).exists(), reason="Debian's prometheus-postgres-exporter is "
                                "not installed (scripts/system-deps installs it)")


@dataclass
class App:
    """One app process: ``hold(n)`` keeps n connections checked out."""

    name: str
    process: subprocess.Popen[str]
    port: int

    def hold(self, n: int) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"hold {n}\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().split() == ["held", str(n)]

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the app returns its connections and exits
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def start_app(dsn: str, name: str, library: str = "sqlalchemy", export: str = "poolwarden") -> App:
    process = subprocess.Popen(dying_with_parent([sys.executable, str(APP), dsn, "--name", name, "--library", library,
                                                  "--export", export]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_env())
    assert process.stdout is not None
    first = process.stdout.readline().split()  # bounded: the app prints its port or exits
    if first[:1] != ["port"]:
        err = process.stderr.read() if process.stderr else ""
        process.kill()
        raise RuntimeError(f"app {name} did not start: {first} {err[-2000:]}")
    return App(name, process, int(first[1]))


def _value(result: list[dict[str, Any]]) -> float | None:
    return float(result[0]["value"][1]) if result else None


def by_job(result: list[dict[str, Any]]) -> dict[str, str]:
    return {x["metric"]["job"]: x["value"][1] for x in result}


def peak(series: str, by: str = "job") -> str:
    """The peak of ``series`` as budget reads it (``WINDOW``: 10m sampled every 1s)."""
    return f"max_over_time((sum by ({by}) ({series}))[10m:1s])"


@dataclass
class Fleet:
    prometheus: Prometheus
    apps: dict[str, App]
    cluster: Any


@pytest.fixture(scope="module")
def fleet(postgres_factory: Callable[..., Any], prometheus_factory: Callable[..., Prometheus]) -> Iterator[Fleet]:
    """The cluster, four apps, postgres_exporter and Prometheus; the apps hold their peaks, which
    Prometheus has scraped, then web drops from 7 to 2 (so its peak is in the past)."""
    cluster = postgres_factory(max_connections=60)
    apps: dict[str, App] = {}
    exporter_port = free_port()
    exporter = subprocess.Popen(
        dying_with_parent([EXPORTER, f"--web.listen-address=127.0.0.1:{exporter_port}", "--log.level=warn"]),
        env={**os.environ, "DATA_SOURCE_NAME": cluster.dsn("postgres", sslmode="disable")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for name, library, export in (("web", "sqlalchemy", "poolwarden"), ("worker", "psycopg_pool", "poolwarden"),
                                      ("reports", "sqlalchemy", "otel"), ("cron", "sqlalchemy", "poolwarden"),
                                      ("dual", "sqlalchemy", "both")):
            apps[name] = start_app(cluster.dsn("postgres"), name, library, export)
        prom = prometheus_factory(
            {**{name: [f"127.0.0.1:{app.port}"] for name, app in apps.items()},
             "postgres": [f"127.0.0.1:{exporter_port}"]},
            labels={"web": {"app": "web-api"}, "worker": {"app": "queue_worker"}})
        for name, n in (("web", 7), ("worker", 3), ("reports", 4), ("cron", 1), ("dual", 2)):
            apps[name].hold(n)
        # wait for what budget reads, peaks over 1 s steps: a step sees a sample once its second has passed
        prom.wait_for(peak('poolwarden_pool_connections_checked_out'),
                      lambda r: by_job(r) == {"web": "7", "worker": "3", "cron": "1", "dual": "2"})
        prom.wait_for(peak('db_client_connection_count{db_client_connection_state="used"}'),
                      lambda r: by_job(r) == {"reports": "4", "dual": "2"})
        prom.wait_for(peak('pg_stat_activity_count{datname="postgres"}', by=""), lambda r: (_value(r) or 0) >= 17)
        apps["web"].hold(2)
        prom.wait_for('poolwarden_pool_connections_checked_out{job="web"}', lambda r: _value(r) == 2)
        yield Fleet(prom, apps, cluster)
    finally:
        for app in apps.values():
            app.stop()
        end_process(exporter)


def budget(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "poolwarden.toml").write_text(config)
    return subprocess.run([sys.executable, "-m", "poolwarden", "budget", "--config", "poolwarden.toml", *args],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, check=False)


FITS = budget_toml(60, {"web": (5, 10), "queue-worker": (8, 0), "reports": (5, 10)})


def test_budget_reads_the_fleet_back(fleet: Fleet, tmp_path: Path) -> None:
    """One test reads the fleet three ways (one fleet per run, also under pytest-xdist)."""
    # 1. JSON, workloads by job: the observed peaks beside the worst case
    proc = budget(tmp_path, FITS, "--prometheus", fleet.prometheus.url, *WINDOW, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    observed = data["observed"]
    by_service = {w["service"]: w for w in observed["services"]}
    # web held 7 (its peak, now past: it holds 2), through poolwarden_pool_*; SQLAlchemy opened exactly 7
    assert by_service["web"]["peak_used"] == 7 and by_service["web"]["peak_open"] == 7
    assert by_service["web"]["series"] == ["poolwarden_pool_*"]
    # reports holds 4 through the OTel SDK's exporter: db_client_connection_count{state="used"}
    assert by_service["reports"]["peak_used"] == 4 and by_service["reports"]["peak_open"] == 4
    assert by_service["reports"]["series"] == ["db_client_connection_*"]
    # job "worker" does not name "queue-worker": listed, not dropped; so is cron
    assert by_service["queue-worker"]["peak_open"] is None
    unmatched = {w["workload"]: w for w in observed["unmatched"]}
    assert set(unmatched) == {"worker", "cron", "dual"}
    assert unmatched["worker"]["peak_used"] == 3 and unmatched["cron"]["peak_used"] == 1
    # dual exports its one pool both ways: counted once (2), not twice
    assert unmatched["dual"]["peak_used"] == 2 and unmatched["dual"]["peak_open"] == 2
    assert unmatched["dual"]["series"] == ["db_client_connection_*", "poolwarden_pool_*"]
    # the server's side: every app's open connections were client backends at the peak
    assert observed["server_peak"]["peak"] >= 7 + 3 + 4 + 1 + 2
    assert observed["server_peak"]["peak"] <= 60
    assert observed["queries"]["open"].startswith(
        "max_over_time((sum by (job) (poolwarden_pool_connections_open or on (instance, pool) label_replace(")

    # 2. text, workloads by the app label
    proc = budget(tmp_path, FITS, "--prometheus", fleet.prometheus.url, *WINDOW, "--prometheus-label", "app")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("OK: worst case 38 of 57")
    shown = lines[lines.index(next(line for line in lines if line.startswith("observed at "))):]
    assert shown[0] == (f"observed at {fleet.prometheus.url} over 10m (peaks sampled every 1s; "
                           "workload = label 'app'):")
    # by the app label, worker's "queue_worker" matches the service "queue-worker"; web's "web-api" matches none
    worker = next(line for line in shown if line.startswith("queue-worker "))
    words = worker.split()
    assert words[1:3] == ["8", "8"] and int(words[3]) >= 3 and words[4] == "3", worker
    assert worker.endswith("app='queue_worker': poolwarden_pool_*")
    assert next(line for line in shown if line.startswith("web ")).split()[1:5] == ["15", "5", "-", "-"]
    assert "unmatched: app='web-api': peak open 7, peak used 7 (poolwarden_pool_*;" in proc.stdout
    # reports (4, OTel), cron (1) and dual (2, both ways) carry no app label: one group of 7 at the peak,
    # listed, with a hint
    assert ("unmatched: app='(no app label)': peak open 7, peak used 7 (db_client_connection_*, "
            "poolwarden_pool_*;") in proc.stdout
    assert "note: some pool series carry no 'app' label" in proc.stdout
    assert "server: observed peak" in proc.stdout and "pg_stat_activity_count" in proc.stdout

    # 3. a peak above the worst case fails the gate: the model undercounts
    small = budget_toml(60, {"web": (2, 3), "queue-worker": (8, 0), "reports": (5, 10)})
    proc = budget(tmp_path, small, "--prometheus", fleet.prometheus.url, *WINDOW)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OVER BUDGET: web: observed peak 7 open connections > worst case 5")


def test_a_prometheus_without_the_series_is_bad_input(prometheus_factory: Callable[..., Prometheus],
                                                      tmp_path: Path) -> None:
    empty = prometheus_factory({})
    try:
        proc = budget(tmp_path, FITS, "--prometheus", empty.url, *WINDOW)
    finally:
        empty.stop()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"poolwarden: error: --prometheus {empty.url}: none of the series in the last 10m")
    assert len(proc.stderr.splitlines()) == 1
