"""What ``otel_metrics`` adds to a real checkout loop over the monitor alone.

A throwaway cluster (the pytest plugin's machinery); one engine (``runtime.engine.create_engine``,
psycopg 3, pool_size 5, pre-ping), instrumented once with ``instrument()``, runs the same loop —
check out, ``SELECT 1``, return — ``--loops`` times per round in each variant:

* baseline: the monitor alone (twice: the second row is an A/A control showing the noise);
* + ``otel_metrics([monitor])`` on the API's no-op ``MeterProvider`` (no SDK): what poolwarden's
  own hook costs (the monitor calls it, it calls the instruments' ``record``);
* + ``otel_metrics([monitor])`` with the OpenTelemetry SDK's ``MeterProvider`` and an
  ``InMemoryMetricReader`` attached (every checkout records wait_time, every return use_time),
  attached before the round's loop and closed after it, collected once per round.

Rounds are interleaved (order rotated); each variant's overhead is its median over rounds divided by
the baseline's median in the same run, for wall-clock and client-thread CPU time. A second table
runs the loop on an in-memory SQLite pool (no network): the microseconds of CPU each adds to a
checkout; a third, the monitor's own bookkeeping for one checkout and return with no pool at all
(the least noisy figure); then what one SDK ``Histogram.record`` costs by itself in the same run (a
checkout makes two: wait_time and use_time). Goal (issue 15): ≤ 3% over the monitor alone.
Usage: ``.venv/bin/python benchmarks/otel_overhead.py [--loops 1000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy
from monitor_overhead import loop
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from ratios import print_added_table, print_ratio_table

from poolwarden.runtime.engine import create_engine
from poolwarden.runtime.monitor import Gauges, PoolMonitor, instrument, otel_metrics
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin


def with_otel(monitor: PoolMonitor) -> Callable[[], None]:
    """Attach otel_metrics with the SDK's in-memory reader; the returned function collects and detaches."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    handle = otel_metrics([monitor], meter_provider=provider)

    def done() -> None:
        data = reader.get_metrics_data()
        assert data is not None and data.resource_metrics, "nothing collected"
        handle.close()
        provider.shutdown()
    return done


def with_noop(monitor: PoolMonitor) -> Callable[[], None]:
    """Attach otel_metrics on the API's no-op provider: the hook runs, the instruments do nothing."""
    return otel_metrics([monitor], meter_provider=NoOpMeterProvider()).close


def record_cost(calls: int) -> float:
    """CPU µs of one SDK ``Histogram.record`` with one attribute, as the hook makes it."""
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    histogram = provider.get_meter("bench").create_histogram("h", unit="s")
    attrs = {"db.client.connection.pool.name": "bench"}
    record = histogram.record
    for _ in range(1000):
        record(0.001, attrs)
    started = time.thread_time()
    for _ in range(calls):
        record(0.001, attrs)
    spent = time.thread_time() - started
    provider.shutdown()
    return spent / calls * 1e6


def bookkeeping_cost(calls: int, attach: Callable[[PoolMonitor], Any]) -> float:
    """CPU µs of the monitor's own work for one checkout and its return (no pool, no database):
    ``begin_checkout`` → ``on_checkout`` → ``on_checkin``, with what ``attach`` adds."""
    monitor = PoolMonitor("bench", "sqlalchemy", lambda: Gauges(size=5, idle=5, overflow=0, max=5))
    done = attach(monitor)
    begin, out, back = monitor.begin_checkout, monitor.on_checkout, monitor.on_checkin
    started = time.thread_time()
    for _ in range(calls):
        out(1, begin())
        back(1)
    spent = time.thread_time() - started
    if done is not None:
        done()
    monitor.close()
    return spent / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    setups: list[tuple[str, Callable[[PoolMonitor], Callable[[], None] | None]]] = [
        ("baseline: instrument() alone", lambda m: None),
        ("control: instrument() alone again", lambda m: None),
        ("instrument() + otel_metrics(), no SDK (the API's no-op provider)", with_noop),
        ("instrument() + otel_metrics() (SDK, in-memory reader)", with_otel),
    ]
    with PostgresCluster(find_pg_bin()) as cluster:
        url = cluster.dsn().replace("postgresql://", "postgresql+psycopg://")
        engine = create_engine(url)
        monitor = instrument(engine)
        try:
            loop(engine, 300)  # warm: pool filled, statements cached
            times: list[list[tuple[float, float]]] = [[] for _ in setups]
            for r in range(args.rounds):
                order = list(range(len(setups)))
                order = order[r % len(order):] + order[:r % len(order)]
                for i in order:
                    done = setups[i][1](monitor)
                    loop(engine, 50)  # settle after attaching
                    times[i].append(loop(engine, args.loops))
                    if done is not None:
                        done()
        finally:
            monitor.close()
            engine.dispose()
    print(f"{args.rounds} rounds x {args.loops} checkouts per variant")
    print_ratio_table([name for name, _ in setups], times, args.loops, "checkout", "client CPU")
    hook_cost(args.rounds, 5 * args.loops)


def hook_cost(rounds: int, loops: int) -> None:
    """The same loop on an in-memory SQLite pool: no network, so what the hook adds shows in µs."""
    from sqlalchemy.pool import QueuePool

    engine = sqlalchemy.create_engine("sqlite:///file:pwotel?mode=memory&cache=shared&uri=true",
                                      poolclass=QueuePool, pool_size=5, max_overflow=0, pool_pre_ping=True)
    monitor = instrument(engine)
    variants: list[tuple[str, Callable[[PoolMonitor], Any]]] = [
        ("instrument() alone", lambda m: None),
        ("instrument() + otel_metrics(), no SDK", with_noop),
        ("instrument() + otel_metrics(), SDK", with_otel),
    ]
    cpu: list[list[float]] = [[] for _ in variants]
    records: list[float] = []
    books: list[list[float]] = [[] for _ in variants]
    loop(engine, 2000)
    for r in range(rounds):
        for i in [*range(len(variants))][r % len(variants):] + [*range(len(variants))][:r % len(variants)]:
            done = variants[i][1](monitor)
            loop(engine, 100)
            cpu[i].append(loop(engine, loops)[1])
            if done is not None:
                done()
        records.append(record_cost(loops))
        for i, (_, make) in enumerate(variants):
            books[i].append(bookkeeping_cost(loops, make))
    monitor.close()
    engine.dispose()
    names = [name for name, _ in variants]
    print_added_table("Hook cost without a network (in-memory SQLite, same loop, CPU µs per checkout):", names, cpu,
                      scale=1e6 / loops)
    print_added_table("The monitor's own bookkeeping for one checkout and return (no pool, no database), CPU µs:",
                      names, books, digits=2)
    print(f"One SDK Histogram.record (same run, median of {rounds} rounds): {statistics.median(records):.1f} µs CPU")


if __name__ == "__main__":
    main()
