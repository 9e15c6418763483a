"""How long one ``poolwarden doctor`` snapshot takes on a server with N client backends.

Starts a throwaway cluster (the pytest plugin's machinery), opens N idle connections (a tenth
of them idle in a transaction), then times, interleaved, best and median of ``--repeat``:

* baseline: connect + ``SELECT 1`` + close with psycopg (the floor of any snapshot);
* snapshot: :func:`poolwarden.doctor.take` (one read-only connection, pg_settings and
  pg_stat_activity) plus :func:`poolwarden.doctor.diagnose`.

Goal (issue 4): a snapshot of a server with 500 backends takes ≤ 50 ms.
Usage: ``.venv/bin/python benchmarks/doctor_snapshot.py [--backends 500] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from poolwarden.doctor import diagnose, take
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with PostgresCluster(find_pg_bin(), {"max_connections": args.backends + 20}) as cluster:
        dsn = cluster.dsn()
        conns = []
        try:
            for i in range(args.backends):
                conn = psycopg.connect(dsn, application_name=f"app-{i % 7}", autocommit=i % 10 != 0)
                conn.execute("SELECT 1")
                conns.append(conn)
            base: list[float] = []
            snap: list[float] = []
            rows = 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                with psycopg.connect(dsn) as c:
                    c.execute("SELECT 1")
                base.append(time.perf_counter() - t)
                t = time.perf_counter()
                d = diagnose(take(dsn))
                snap.append(time.perf_counter() - t)
                rows = d.in_use
        finally:
            for conn in conns:
                conn.close()
    ms = 1000.0
    print(f"backends in use: {rows}")
    print("| measurement | best ms | median ms | × baseline (median) |")
    print("|---|---:|---:|---:|")
    print(f"| baseline: connect + SELECT 1 | {min(base) * ms:.1f} | {statistics.median(base) * ms:.1f} | 1.00 |")
    print(f"| doctor snapshot + diagnosis | {min(snap) * ms:.1f} | {statistics.median(snap) * ms:.1f} | "
          f"{statistics.median(snap) / statistics.median(base):.2f} |")


if __name__ == "__main__":
    main()
