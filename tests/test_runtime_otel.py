"""runtime.monitor.otel_metrics on real pools: OpenTelemetry's db.client.connection.* metrics, read
back through the SDK's in-memory reader and the Prometheus exporter, against the pool's own view
and pg_stat_activity of the throwaway PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from poolwarden.runtime import engine as rt
from poolwarden.runtime.monitor import PoolMonitor, instrument, otel_metrics
from poolwarden.runtime.monitor.otel import BUCKETS_SECONDS

from .adversarial.contract import thrown
from .conftest import auntil, joined, until

THROWN = thrown("runtime otel")  # generated checkout/return sequences, counted in pytest's summary

POOL = "db.client.connection.pool.name"
STATE = "db.client.connection.state"
# name -> (SDK point type, unit): the conventions' instrument types and units, exactly
EXPECTED = {
    "db.client.connection.count": ("Sum", "{connection}"),
    "db.client.connection.max": ("Sum", "{connection}"),
    "db.client.connection.idle.max": ("Sum", "{connection}"),
    "db.client.connection.idle.min": ("Sum", "{connection}"),
    "db.client.connection.pending_requests": ("Sum", "{request}"),
    "db.client.connection.timeouts": ("Sum", "{timeout}"),
    "db.client.connection.create_time": ("Histogram", "s"),
    "db.client.connection.wait_time": ("Histogram", "s"),
    "db.client.connection.use_time": ("Histogram", "s"),
}


@dataclass
class Metric:
    kind: str
    unit: str
    monotonic: bool | None
    points: list[tuple[dict[str, Any], Any]]  # (attributes, value or histogram point)

    def value(self, **attrs: str) -> Any:
        found = [v for a, v in self.points if all(a.get(k) == w for k, w in attrs.items())]
        assert len(found) == 1, f"{attrs}: {self.points}"
        return found[0]


def collect(reader: InMemoryMetricReader) -> dict[str, Metric]:
    data = reader.get_metrics_data()
    out: dict[str, Metric] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "poolwarden.runtime.monitor"
            for m in sm.metrics:
                kind = type(m.data).__name__
                points = [(dict(p.attributes or {}), p if kind == "Histogram" else p.value) for p in m.data.data_points]
                out[m.name] = Metric(kind, m.unit or "", getattr(m.data, "is_monotonic", None), points)
    return out


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    reader.provider = provider  # type: ignore[attr-defined]
    yield reader
    provider.shutdown()


def otel(monitors: list[PoolMonitor], reader: InMemoryMetricReader) -> Any:
    return otel_metrics(monitors, meter_provider=reader.provider)  # type: ignore[attr-defined]


def backends(dsn: str) -> int:
    """Client backends connected to the test's database, from pg_stat_activity (this one excluded)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://")


def test_names_units_and_values_on_a_sqlalchemy_pool(postgres: str, reader: InMemoryMetricReader) -> None:
    engine = rt.create_engine(_url(postgres), pool_size=2, max_overflow=1, pool_timeout=0.2)
    monitor = instrument(engine, name="billing")
    handle = otel([monitor], reader)
    held: list[Any] = []
    try:
        held += [engine.connect(), engine.connect(), engine.connect()]  # pool_size + overflow
        with pytest.raises(sqlalchemy.exc.TimeoutError):
            engine.connect()
        held.pop().close()
        held.pop().close()  # both kept idle: the pool keeps up to pool_size (2) returned connections
        m = collect(reader)
        assert {name: (x.kind, x.unit) for name, x in m.items() if name != "db.client.connection.idle.min"} == {
            k: v for k, v in EXPECTED.items() if k != "db.client.connection.idle.min"}
        assert "db.client.connection.idle.min" not in m  # SQLAlchemy has no minimum of idle connections
        for name, x in m.items():
            assert x.monotonic is (name == "db.client.connection.timeouts" if x.kind == "Sum" else None), name
            assert all(a[POOL] == "billing" and set(a) <= {POOL, STATE} for a, _ in x.points), name
        count = m["db.client.connection.count"]
        assert sorted(a[STATE] for a, _ in count.points) == ["idle", "used"]
        used, idle = count.value(**{STATE: "used"}), count.value(**{STATE: "idle"})
        pool = engine.pool
        assert (used, idle) == (pool.checkedout(), pool.checkedin()) == (1, 2)
        assert used + idle == backends(postgres) == 3
        assert m["db.client.connection.max"].value() == 3
        assert m["db.client.connection.idle.max"].value() == 2
        assert m["db.client.connection.pending_requests"].value() == 0
        assert m["db.client.connection.timeouts"].value() == 1
        wait, use, create = (m[f"db.client.connection.{n}"].value() for n in ("wait_time", "use_time", "create_time"))
        assert (wait.count, use.count, create.count) == (3, 2, 3)
        assert tuple(wait.explicit_bounds) == BUCKETS_SECONDS
        assert 0 < create.sum < 30 and use.sum > 0
        stats = monitor.stats()
        assert (stats.checkouts_total, stats.connections_opened_total, stats.hold_ms.count) == (3, 3, 2)
    finally:
        for conn in held:
            conn.close()
        handle.close()
        monitor.close()
        engine.dispose()


def test_pending_requests_count_a_caller_blocked_in_checkout(postgres: str, reader: InMemoryMetricReader) -> None:
    engine = rt.create_engine(_url(postgres), pool_size=1, max_overflow=0, pool_timeout=30)
    monitor = instrument(engine, name="api")
    handle = otel([monitor], reader)
    first = engine.connect()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(engine.connect()))
    try:
        waiter.start()
        until(lambda: monitor.stats().waiting == 1)
        assert collect(reader)["db.client.connection.pending_requests"].value() == 1
        first.close()
        joined(waiter)
        m = collect(reader)
        assert m["db.client.connection.pending_requests"].value() == 0
        assert m["db.client.connection.wait_time"].value().count == 2
    finally:
        first.close()
        for conn in got:
            conn.close()
        handle.close()
        monitor.close()
        engine.dispose()


def test_psycopg_pool(postgres: str, reader: InMemoryMetricReader) -> None:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(postgres, min_size=2, max_size=4, open=False, timeout=0.2)
    monitor = instrument(pool, name="orders")
    handle = otel([monitor], reader)
    try:
        pool.open(wait=True)
        with pool.connection() as a, pool.connection() as b, pool.connection() as c:
            for conn in (a, b, c):
                conn.execute("SELECT 1")
            m = collect(reader)
            count = m["db.client.connection.count"]
            s = pool.get_stats()
            used, idle = count.value(**{STATE: "used"}), count.value(**{STATE: "idle"})
            assert (used, idle) == (s["pool_size"] - s["pool_available"], s["pool_available"]) == (3, 0)
            assert used + idle == backends(postgres)
        m = collect(reader)
        assert m["db.client.connection.max"].value() == 4
        assert "db.client.connection.idle.max" not in m and "db.client.connection.idle.min" not in m
        assert m["db.client.connection.create_time"].value().count == pool.get_stats()["connections_num"] == 3
        assert (m["db.client.connection.wait_time"].value().count, m["db.client.connection.use_time"].value().count) \
            == (3, 3)
        assert "db.client.connection.timeouts" not in m  # no timeout yet: the counter has no point
    finally:
        handle.close()
        monitor.close()
        pool.close()


def test_async_psycopg_pool_times_its_connects(postgres: str, reader: InMemoryMetricReader) -> None:
    from psycopg_pool import AsyncConnectionPool

    async def main() -> dict[str, Metric]:
        pool = AsyncConnectionPool(postgres, min_size=2, max_size=3, open=False)
        monitor = instrument(pool, name="async-orders")
        handle = otel([monitor], reader)
        try:
            await pool.open(wait=True, timeout=30)
            async with pool.connection(timeout=30) as conn:
                await conn.execute("SELECT 1")
                m = collect(reader)
                assert m["db.client.connection.count"].value(**{STATE: "used"}) == 1
            return collect(reader)
        finally:
            handle.close()
            monitor.close()
            await pool.close()

    m = asyncio.run(main())
    assert m["db.client.connection.create_time"].value().count == 2  # min_size, opened by the pool's workers
    assert (m["db.client.connection.wait_time"].value().count, m["db.client.connection.use_time"].value().count) \
        == (1, 1)


def test_asyncpg_pool(postgres: str, reader: InMemoryMetricReader) -> None:
    import asyncpg

    async def main() -> dict[str, Metric]:
        pool = await asyncpg.create_pool(postgres, min_size=1, max_size=2)
        monitor = instrument(pool, name="events")
        handle = otel([monitor], reader)
        try:
            async with pool.acquire(timeout=30) as a, pool.acquire(timeout=30) as b:  # the second is a new connection
                await a.execute("SELECT 1")
                await b.execute("SELECT 1")
                m = collect(reader)
                count = m["db.client.connection.count"]
                assert (count.value(**{STATE: "used"}), count.value(**{STATE: "idle"})) == (2, pool.get_idle_size())
                assert pool.get_idle_size() == 0 and backends(postgres) == 2
                with pytest.raises(asyncio.TimeoutError):
                    await pool.acquire(timeout=0.1)
            await auntil(lambda: monitor.stats().checked_out == 0)
            return collect(reader)
        finally:
            handle.close()
            monitor.close()
            await pool.close()

    m = asyncio.run(main())
    assert m["db.client.connection.max"].value() == 2
    assert m["db.client.connection.timeouts"].value() == 1
    assert m["db.client.connection.create_time"].value().count == 1
    assert m["db.client.connection.use_time"].value().count == 2
    assert "db.client.connection.idle.max" not in m and "db.client.connection.idle.min" not in m


def test_close_stops_every_measurement(postgres: str, reader: InMemoryMetricReader) -> None:
    engine = rt.create_engine(_url(postgres), pool_size=2)
    monitor = instrument(engine, name="gone")
    handle = otel([monitor], reader)
    try:
        with engine.connect():
            pass
        handle.close()
        with engine.connect():
            pass
        m = collect(reader)
        assert "db.client.connection.count" not in m  # observable: nothing after close
        assert m["db.client.connection.wait_time"].value().count == 1  # recorded before close only
        assert monitor.stats().checkouts_total == 2  # the monitor itself goes on
    finally:
        handle.close()
        monitor.close()
        engine.dispose()


def test_two_handles_on_one_provider_both_report(postgres: str, reader: InMemoryMetricReader) -> None:
    """OpenTelemetry keeps the first registration of an instrument name: a second otel_metrics()
    on the same provider must still report its pools (one handle per pool is the natural use)."""
    engines = [rt.create_engine(_url(postgres), pool_size=n) for n in (2, 3)]
    monitors = [instrument(e, name=f"pool{i}") for i, e in enumerate(engines)]
    handles = [otel([m], reader) for m in monitors]
    try:
        for e in engines:
            with e.connect():
                pass
        m = collect(reader)
        assert sorted(a[POOL] for a, _ in m["db.client.connection.max"].points) == ["pool0", "pool1"]
        assert m["db.client.connection.max"].value(**{POOL: "pool1"}) == 3
        assert m["db.client.connection.wait_time"].value(**{POOL: "pool1"}).count == 1
        handles[0].close()
        m = collect(reader)
        assert [a[POOL] for a, _ in m["db.client.connection.max"].points] == ["pool1"]
    finally:
        for h in handles:
            h.close()
        for mon in monitors:
            mon.close()
        for e in engines:
            e.dispose()


def test_a_failing_hook_never_breaks_a_checkout(postgres: str, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def waited(self, seconds: float) -> None:
            raise RuntimeError("exporter down")

        timed_out = used = created = waited  # type: ignore[assignment]

    engine = rt.create_engine(_url(postgres), pool_size=1)
    monitor = instrument(engine, name="sturdy")
    monitor.add_hook(Broken())  # type: ignore[arg-type]
    try:
        for _ in range(3):
            with engine.connect() as conn:
                assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
        assert monitor.stats().checkouts_total == 3
        assert caplog.text.count("a hook of pool 'sturdy' failed") == 1
    finally:
        monitor.close()
        engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.sampled_from(["out", "in"]), max_size=12))
def test_any_checkout_sequence_reads_back_as_the_pool_sees_it(postgres: str, ops: list[str]) -> None:
    """Generated checkout/return sequences: count{used,idle} is the pool's own view, wait_time and
    use_time count every checkout and return, and nothing but the pool's name and state is an attribute."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    engine = rt.create_engine(_url(postgres), pool_size=3, max_overflow=2, pool_timeout=5)
    monitor = instrument(engine, name="gen")
    handle = otel_metrics([monitor], meter_provider=provider)
    held: list[Any] = []
    outs = ins = 0
    THROWN["checkout/return sequences"] += 1
    try:
        for op in ops:
            if op == "out" and len(held) < 5:
                held.append(engine.connect())
                outs += 1
            elif op == "in" and held:
                held.pop(0).close()
                ins += 1
        m = collect(reader)
        count = m["db.client.connection.count"]
        assert count.value(**{STATE: "used"}) == engine.pool.checkedout() == len(held)
        assert count.value(**{STATE: "idle"}) == engine.pool.checkedin()
        for name, n in (("wait_time", outs), ("use_time", ins)):
            metric = m.get(f"db.client.connection.{name}")
            assert (metric.value().count if metric else 0) == n
        assert all(set(a) <= {POOL, STATE} for x in m.values() for a, _ in x.points)
    finally:
        for conn in held:
            conn.close()
        handle.close()
        monitor.close()
        engine.dispose()
        provider.shutdown()


def test_the_prometheus_exporter_renders_these_names(postgres: str) -> None:
    """The OTel → Prometheus path (opentelemetry-exporter-prometheus): the names ``budget
    --prometheus`` reads and docs/runtime/monitor.md lists, pinned."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    prom = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(metric_readers=[prom])
    engine = rt.create_engine(_url(postgres), pool_size=4, max_overflow=0, pool_timeout=0.1)
    monitor = instrument(engine, name="api")
    handle = otel_metrics([monitor], meter_provider=provider)
    held: list[Any] = []
    try:
        held += [engine.connect() for _ in range(4)]
        with pytest.raises(sqlalchemy.exc.TimeoutError):
            engine.connect()
        held.pop().close()
        text = generate_latest(registry).decode()
    finally:
        for conn in held:
            conn.close()
        handle.close()
        monitor.close()
        engine.dispose()
        provider.shutdown()
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    scope = {"otel_scope_name": "poolwarden.runtime.monitor", "otel_scope_schema_url": "",
             "otel_scope_version": "0.1.0"}
    pool = {"db_client_connection_pool_name": "api", **scope}
    samples = {(x.name, tuple(sorted((k, v) for k, v in x.labels.items() if k != "le"))): x.value
               for f in families.values() for x in f.samples if x.labels.get("le") in (None, "+Inf")}

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({**pool, **labels}.items())))]

    assert {name: f.type for name, f in families.items() if name.startswith("db_client")} == {
        "db_client_connection_count": "gauge",  # an UpDownCounter is a Prometheus gauge
        "db_client_connection_max": "gauge",
        "db_client_connection_idle_max": "gauge",
        "db_client_connection_pending_requests": "gauge",
        "db_client_connection_timeouts": "counter",  # rendered db_client_connection_timeouts_total
        "db_client_connection_create_time_seconds": "histogram",
        "db_client_connection_wait_time_seconds": "histogram",
        "db_client_connection_use_time_seconds": "histogram",
    }
    assert value("db_client_connection_count", db_client_connection_state="used") == 3
    assert value("db_client_connection_count", db_client_connection_state="idle") == 1
    assert (value("db_client_connection_max"), value("db_client_connection_idle_max")) == (4, 4)
    assert value("db_client_connection_pending_requests") == 0
    assert value("db_client_connection_timeouts_total") == 1
    assert value("db_client_connection_wait_time_seconds_count") == 4
    assert value("db_client_connection_wait_time_seconds_bucket") == 4  # le="+Inf"
    assert value("db_client_connection_use_time_seconds_count") == 1
    assert value("db_client_connection_create_time_seconds_count") == 4
    assert 'db_client_connection_wait_time_seconds_bucket{db_client_connection_pool_name="api",le="0.0005",' in text


def test_importing_the_monitor_does_not_import_opentelemetry() -> None:
    code = ("import sys, poolwarden.runtime.monitor as m; "
            "assert not [k for k in sys.modules if k.startswith('opentelemetry')], 'imported'; "
            "m.otel_metrics; assert 'opentelemetry' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_opentelemetry_the_error_names_the_extra() -> None:
    code = ("import sys; sys.modules['opentelemetry'] = None\n"  # as if opentelemetry-api were not installed
            "import poolwarden.runtime.monitor as m\n"
            "try:\n    m.otel_metrics\nexcept ImportError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == ("poolwarden.runtime.monitor.otel_metrics needs opentelemetry-api: "
                                   "pip install 'poolwarden[otel]'")
