"""What ``poolwarden.runtime.monitor.instrument`` costs on a real checkout loop.

A throwaway cluster (the pytest plugin's machinery); one engine (``runtime.engine.create_engine``,
psycopg 3, pool_size 5, pre-ping) runs the same loop — check out, ``SELECT 1``, return —
``--loops`` times per round in each variant; a variant instruments the engine before its loop and
closes the monitor (removing every hook) after it:

* baseline: not instrumented (twice: the second row is an A/A control showing the noise);
* instrument(): counters, gauges, wait/hold histograms, utilisation events;
* instrument(leak_threshold=30): the above plus the checkout location of every connection;
* instrument(leak_threshold=30, idle_in_transaction_threshold=5): plus statement/transaction
  events — on a fresh engine each round, because SQLAlchemy keeps an engine off its no-event
  fast path once a connection event was added, even after removal.

Rounds are interleaved (every variant once per round, order rotated) and each variant's
overhead is its median over rounds divided by the baseline's median in the same run —
for wall-clock time (what a request feels; the server shares the machine, so it is noisy: the
control row shows how much) and for the client thread's CPU time (what instrument adds).
A second table runs the loop on an in-memory SQLite pool (no network, little noise): the
microseconds of CPU instrument adds to each checkout, whatever the database.
Goals (issue 5): ≤ 3% overhead; ≤ 10% with leak locations on.
Usage: ``.venv/bin/python benchmarks/monitor_overhead.py [--loops 2000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy
from ratios import print_added_table, print_ratio_table

from poolwarden.runtime.engine import create_engine
from poolwarden.runtime.monitor import instrument
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin

SELECT1 = sqlalchemy.text("SELECT 1")


def loop(engine: Any, n: int) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) for ``n`` checkouts."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        with engine.connect() as conn:
            conn.execute(SELECT1)
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    setups: list[tuple[str, Callable[[Any], Any]]] = [
        ("baseline: not instrumented", lambda e: None),
        ("control: not instrumented again", lambda e: None),
        ("instrument(): stats and events, no locations", lambda e: instrument(e)),
        ("instrument(leak_threshold=30)", lambda e: instrument(e, leak_threshold=30)),
        ("+ idle_in_transaction_threshold=5", lambda e: instrument(e, leak_threshold=30,
                                                                     idle_in_transaction_threshold=5)),
    ]
    with PostgresCluster(find_pg_bin()) as cluster:
        url = cluster.dsn().replace("postgresql://", "postgresql+psycopg://")
        engine = create_engine(url)
        try:
            loop(engine, 300)  # warm: pool filled, statements cached
            times: list[list[tuple[float, float]]] = [[] for _ in setups]
            last = None
            for r in range(args.rounds):
                order = list(range(len(setups)))
                order = order[r % len(order):] + order[:r % len(order)]
                for i in order:
                    fresh = i == len(setups) - 1  # connection events stay on an engine: a new one each round
                    target = create_engine(url) if fresh else engine
                    monitor = setups[i][1](target)
                    loop(target, 300 if fresh else 50)  # settle after attaching (and fill a fresh pool)
                    times[i].append(loop(target, args.loops))
                    if monitor is not None:
                        last = monitor.stats() if fresh else last
                        monitor.close()
                    if fresh:
                        target.dispose()
        finally:
            engine.dispose()
    print(f"{args.rounds} rounds x {args.loops} checkouts per variant")
    print_ratio_table([name for name, _ in setups], times, args.loops, "checkout", "client CPU")
    if last is not None:
        print(f"\n(last variant, one round on a fresh engine: {last.checkouts_total} checkouts, "
              f"hold p50 ≤ {last.hold_ms.quantile(0.5)} ms)")
    hook_cost(args.rounds, 5 * args.loops)


def hook_cost(rounds: int, loops: int) -> None:
    """The same loop on an in-memory SQLite pool: no network, so what instrument adds shows in µs."""
    from sqlalchemy.pool import QueuePool

    engine = sqlalchemy.create_engine("sqlite:///file:pwbench?mode=memory&cache=shared&uri=true",
                                      poolclass=QueuePool, pool_size=5, max_overflow=0, pool_pre_ping=True)
    variants: list[tuple[str, Callable[[Any], Any]]] = [
        ("not instrumented", lambda e: None),
        ("instrument()", lambda e: instrument(e)),
        ("instrument(leak_threshold=30)", lambda e: instrument(e, leak_threshold=30)),
    ]
    cpu: list[list[float]] = [[] for _ in variants]
    loop(engine, 2000)
    for _ in range(rounds):
        for i, (_, make) in enumerate(variants):
            monitor = make(engine)
            loop(engine, 100)
            cpu[i].append(loop(engine, loops)[1])
            if monitor is not None:
                monitor.close()
    engine.dispose()
    print_added_table("Hook cost without a network (in-memory SQLite, same loop, CPU µs per checkout):",
                      [name for name, _ in variants], cpu, scale=1e6 / loops)


if __name__ == "__main__":
    main()
