"""A real app process for tests/test_budget_prometheus.py: one real pool against a real PostgreSQL,
instrumented with poolwarden, its metrics served over HTTP for a real Prometheus to scrape.

    python tests/prometheus_app.py DSN --name web --library sqlalchemy|psycopg_pool \
        --export poolwarden|otel-sdk|otel

``--export poolwarden``: ``instrument()`` + :class:`PoolCollector` (``poolwarden_pool_*``).
``--export otel``: ``instrument()`` + ``poolwarden.runtime.monitor.otel_metrics`` through the OTel
SDK's ``PrometheusMetricReader``. ``--export otel-sdk``: the OTel SDK's own instruments of the
semantic conventions' names (``db.client.connection.count`` by state, ``db.client.connection.max``),
fed from the SQLAlchemy pool itself, through the same exporter: how the OTel Prometheus exporter
renders those names, independent of poolwarden's module. ``--export both``: poolwarden's collector and
the OTel SDK's instruments for the same pool (one pool seen twice).

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


def _otel_sdk(engine: Any, name: str) -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider

    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    meter = provider.get_meter("prometheus_app")
    pool = engine.pool
    attrs = {"db.client.connection.pool.name": name}

    def count(_: CallbackOptions) -> list[Observation]:
        return [Observation(pool.checkedout(), {**attrs, "db.client.connection.state": "used"}),
                Observation(pool.checkedin(), {**attrs, "db.client.connection.state": "idle"})]

    def maximum(_: CallbackOptions) -> list[Observation]:
        return [Observation(pool.size() + pool._max_overflow, attrs)]

    meter.create_observable_up_down_counter("db.client.connection.count", [count], unit="{connection}")
    meter.create_observable_up_down_counter("db.client.connection.max", [maximum], unit="{connection}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--name", required=True)
    parser.add_argument("--library", choices=["sqlalchemy", "psycopg_pool"], default="sqlalchemy")
    parser.add_argument("--export", choices=["poolwarden", "otel-sdk", "both", "otel"], default="poolwarden")
    args = parser.parse_args()

    from prometheus_client import REGISTRY, start_http_server

    from poolwarden.runtime.monitor import PoolCollector, instrument

    target, checkout, checkin = _pool(args.library, args.dsn, args.name)
    monitor = instrument(target, name=args.name)
    if args.export in ("poolwarden", "both"):
        REGISTRY.register(PoolCollector([monitor]))
    if args.export in ("otel-sdk", "both"):
        _otel_sdk(target, args.name)
    if args.export == "otel":
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider

        from poolwarden.runtime.monitor import otel_metrics  # type: ignore[attr-defined]

        provider = MeterProvider(metric_readers=[PrometheusMetricReader()])  # lives as long as main()
        otel_metrics([monitor], meter_provider=provider)
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
