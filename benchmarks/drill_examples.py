"""The seed examples under drill: seed 1's API under saturation, seed 2's enricher throughput.

1. Seed 1 (``examples/seed1-voice-billing``), buggy and fixed, each started by
   ``poolwarden drill --start-postgres`` (max_connections 20) under uvicorn and driven with
   ``GET /organizations/1/subscription`` (3 clients, one request per 20 ms each) through a 3 s
   baseline, ``--duration`` seconds of saturation and a 5 s recovery: lies, and the latency of
   the answers during the fault (fail fast, or hang?).
2. Seed 3 (``examples/seed3-relay-api``), buggy and fixed, under ``--fault partition`` for
   ``--duration`` seconds: how long ``GET /auth/me`` takes while the database address answers
   nothing (the buggy app has no connect timeout).
3. Seed 2 (``examples/seed2-enricher``), buggy and fixed: 4 daemons share a PgBouncer pool of 2
   server connections (transaction mode, as in the seed), the validation API answers after
   50 ms, 400 addresses in batches of 20; rows verified per second, interleaved over
   ``--rounds`` rounds (median). Same pool size for both: only where the HTTP calls sit differs.

Usage: ``.venv/bin/python benchmarks/drill_examples.py [--duration 10] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from poolwarden.drill import Plan, run_drill
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
from poolwarden.testing.pgbouncer import PgBouncer

ROOT = Path(__file__).resolve().parent.parent
SEED1 = ROOT / "examples" / "seed1-voice-billing"
SEED2 = ROOT / "examples" / "seed2-enricher"
sys.path.insert(0, str(SEED2))
from launch import run_enrichers, setup  # noqa: E402


def seed1(duration: float) -> None:
    print(f"Seed 1 under saturation ({duration:g} s):")
    print("| variant | requests in the fault | lies | honest failures | p50 | p99 | recovery |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in ("buggy", "fixed"):
        result = run_drill(
            urls=["http://127.0.0.1:{port}/organizations/1/subscription"], headers={"X-Tenant-Id": "acme"},
            start_postgres=True, setup_sql=SEED1 / "drill.sql",
            app=f"{sys.executable} -m uvicorn billing.api:app --port {{port}}", app_cwd=str(SEED1 / variant),
            app_env={"PLATFORM_DATABASE_URL":
                     "postgresql+asyncpg://{db_user}:{db_password}@{db_host}:{db_port}/{db_name}"},
            faults=["saturation"], plan=Plan(baseline=3, fault=duration, recovery=5, concurrency=3, interval=0.02))
        v = result.verdict
        fault = v.counts["fault"]
        print(f"| {variant} | {sum(fault.values())} | {v.lies} | {fault['honest']} | {v.fault_p50_ms:.1f} ms | "
              f"{v.fault_p99_ms:.1f} ms | {v.recovery_s:.2f} s |")


def seed3(duration: float) -> None:
    seed = ROOT / "examples" / "seed3-relay-api"
    print(f"\nSeed 3 under a network partition ({duration:g} s), DB_CONNECT_TIMEOUT=2 for the fixed app:")
    print("| variant | requests started in the fault | p50 | p99 | statuses | recovery |")
    print("|---|---:|---:|---:|---|---:|")
    for variant in ("buggy", "fixed"):
        result = run_drill(
            urls=["http://127.0.0.1:{port}/auth/me"], headers={"Cookie": "session_id=s1"}, start_postgres=True,
            setup_sql=seed / "drill.sql", app=f"{sys.executable} -m uvicorn relay.api:app --port {{port}}",
            app_cwd=str(seed / variant), app_env={"DB_CONNECT_TIMEOUT": "2"}, faults=["partition"],
            plan=Plan(baseline=3, fault=duration, recovery=5, concurrency=3, interval=0.02, timeout=duration + 30))
        v = result.verdict
        during = [r for r in result.data.requests if r.phase == "fault"]
        statuses = sorted({str(r.status or r.error) for r in during})
        print(f"| {variant} | {len(during)} | {v.fault_p50_ms / 1000:.2f} s | {v.fault_p99_ms / 1000:.2f} s | "
              f"{', '.join(statuses)} | {v.recovery_s:.2f} s |")


def seed2(rounds: int) -> None:
    speeds: dict[str, list[float]] = {"buggy": [], "fixed": []}
    with PostgresCluster(find_pg_bin()) as cluster:
        bouncer = PgBouncer(cluster, {"default_pool_size": 2, "max_client_conn": 50}).start()
        try:
            url = bouncer.dsn("postgres").replace("postgresql://", "postgresql+asyncpg://")
            for r in range(rounds):
                for variant in (("buggy", "fixed") if r % 2 == 0 else ("fixed", "buggy")):
                    setup(cluster.dsn(), rows=400)
                    result = run_enrichers(SEED2 / variant, url, cluster.dsn(), daemons=4, api_delay=0.05,
                                           batch_size=20)
                    assert result["left"] == 0, result
                    speeds[variant].append(result["rows_per_second"])
        finally:
            bouncer.stop()
    print(f"\nSeed 2 enricher, 4 daemons over a PgBouncer pool of 2, API 50 ms, {rounds} rounds:")
    print("| variant | rows/s (median) | rounds | x buggy |")
    print("|---|---:|---|---:|")
    base = statistics.median(speeds["buggy"])
    for variant, values in speeds.items():
        med = statistics.median(values)
        print(f"| {variant} | {med:.1f} | {', '.join(f'{v:.1f}' for v in values)} | {med / base:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seed1(args.duration)
    seed3(args.duration)
    seed2(args.rounds)


if __name__ == "__main__":
    main()
