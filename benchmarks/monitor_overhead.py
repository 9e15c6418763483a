"""What ``poolwarden.runtime.monitor.instrument`` costs on a real checkout loop.

A throwaway cluster (the pytest plugin's machinery); four engines made the same way
(``runtime.engine.create_engine``, psycopg 3, pool_size 5), each running the same loop —
check out, ``SELECT 1``, return — ``--loops`` times per round:

* baseline: not instrumented (and a second, identical engine as a control: its row shows the noise);
* instrument(capture_locations=False): counters, gauges, wait/hold histograms;
* instrument(leak_threshold=30): the above plus the checkout location of every connection;
* instrument(leak_threshold=30, idle_in_transaction_threshold=5): plus statement/transaction events.

Rounds are interleaved (every variant once per round, order rotated) and each variant's
overhead is its median over rounds divided by the baseline's median in the same run —
for wall-clock time (what a request feels; the server shares the machine, so it is noisy: the
control row shows how much) and for the client thread's CPU time (what instrument adds).
Goals (issue 5): ≤ 3% overhead; ≤ 10% with leak locations on.
Usage: ``.venv/bin/python benchmarks/monitor_overhead.py [--loops 2000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy

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
        ("control: a second engine, not instrumented", lambda e: None),
        ("instrument(), locations off", lambda e: instrument(e, capture_locations=False)),
        ("instrument(leak_threshold=30)", lambda e: instrument(e, leak_threshold=30)),
        ("+ idle_in_transaction_threshold=5", lambda e: instrument(e, leak_threshold=30,
                                                                     idle_in_transaction_threshold=5)),
    ]
    with PostgresCluster(find_pg_bin()) as cluster:
        url = cluster.dsn().replace("postgresql://", "postgresql+psycopg://")
        engines = [create_engine(url) for _ in setups]
        monitors = [make(e) for (_, make), e in zip(setups, engines, strict=True)]
        try:
            for e in engines:  # warm: pools filled, statements cached
                loop(e, 200)
            times: list[list[tuple[float, float]]] = [[] for _ in setups]
            for r in range(args.rounds):
                order = list(range(len(setups)))
                order = order[r % len(order):] + order[:r % len(order)]
                for i in order:
                    times[i].append(loop(engines[i], args.loops))
        finally:
            for m in monitors:
                if m is not None:
                    m.close()
            for e in engines:
                e.dispose()
    base = times[0]
    print(f"{args.rounds} rounds x {args.loops} checkouts per variant")
    print("| variant | wall µs / checkout | wall vs baseline | client CPU µs / checkout | CPU vs baseline |")
    print("|---|---:|---:|---:|---:|")
    for (name, _), t in zip(setups, times, strict=True):
        row = [f"| {name} "]
        for k in (0, 1):
            per = statistics.median(x[k] for x in t) / args.loops * 1e6
            ratio = statistics.median(x[k] for x in t) / statistics.median(b[k] for b in base)
            row.append(f"| {per:.1f} | {'—' if t is base else f'{(ratio - 1) * 100:+.1f}%'} ")
        print("".join(row) + "|")
    if monitors[-1] is not None:
        stats = monitors[-1].stats()
        print(f"\n(last variant: {stats.checkouts} checkouts, hold p50 ≤ {stats.hold_ms.quantile(0.5)} ms)")


if __name__ == "__main__":
    main()
