"""A real app process for tests/test_budget_prometheus.py: one real pool against a real PostgreSQL,
instrumented with poolwarden, its metrics served over HTTP for a real Prometheus to scrape.

    python tests/prometheus_app.py DSN --name web --library sqlalchemy|psycopg_pool \
        --export poolwarden|otel|both

``--export poolwarden``: ``instrument()`` + :class:`PoolCollector` (``poolwarden_pool_*``).
``--export otel``: ``instrument()`` + ``poolwarden.runtime.monitor.otel_metrics`` through the OTel
SDK's ``PrometheusMetricReader`` (``db_client_connection_*``). ``--export both``: the two for the
same pool (one pool seen twice).

Prints ``port N`` once serving, then obeys stdin lines: ``hold N`` (keep exactly N connections
checked out; answers ``held N``) and ``quit``. It exits when stdin closes (its test ended).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _pool(library: str, dsn: str, name: str) -> tuple[Any, Any, Any]:
    """(the pool object to instrument, checkout() -> connection, checkin(connection))."""
    if library == "sqlalchemy":
        import sqlalchemy

        url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = sqlalchemy.create_engine(url, pool_size=5, max_overflow=10, pool_timeout=10,
                                          connect_args={"connect_timeout": 5, "application_name": name})
        return engine, engine.connect, lambda conn: conn.close()
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(dsn, min_size=1, max_size=8, timeout=10, name=name,
                          kwargs={"connect_timeout": 5, "application_name": name, "autocommit": True})
    pool.wait(timeout=10)
    return pool, lambda: pool.getconn(timeout=10), pool.putconn


def _otel(monitor: Any) -> None:
    """poolwarden's ``otel_metrics`` through the OTel SDK's Prometheus exporter."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    from poolwarden.runtime.monitor import otel_metrics

    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])  # lives as long as the process
    otel_metrics([monitor], meter_provider=provider)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--name", required=True)
    parser.add_argument("--library", choices=["sqlalchemy", "psycopg_pool"], default="sqlalchemy")
    parser.add_argument("--export", choices=["poolwarden", "otel", "both"], default="poolwarden")
    args = parser.parse_args()

    from prometheus_client import REGISTRY, start_http_server

    from poolwarden.runtime.monitor import PoolCollector, instrument

    target, checkout, checkin = _pool(args.library, args.dsn, args.name)
    monitor = instrument(target, name=args.name)
    if args.export in ("poolwarden", "both"):
        REGISTRY.register(PoolCollector([monitor]))
    if args.export in ("otel", "both"):
        _otel(monitor)
    server, _thread = start_http_server(0, addr="127.0.0.1")
    print(f"port {server.server_port}", flush=True)
    held: list[Any] = []
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["hold"]:
            want = int(words[1])
            while len(held) > want:
                checkin(held.pop())
            while len(held) < want:
                held.append(checkout())
            print(f"held {len(held)}", flush=True)
        elif words[:1] == ["quit"]:
            break
    for conn in held:
        checkin(conn)
    (target.dispose if args.library == "sqlalchemy" else target.close)()
    server.shutdown()


if __name__ == "__main__":
    main()
