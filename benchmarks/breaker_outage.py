"""Request latency during a full database outage, and time to recover, with and without the breaker.

A throwaway cluster behind a local TCP proxy (``poolwarden.testing.proxy``). Clients (threads,
each paced to one request per ``--interval``) run ``SELECT 1`` through an engine; after a calm
phase the proxy cuts the database off the way seed 3's failover did — open connections are
reset, new ones connect and never get an answer — for ``--outage`` seconds, then heals. Three
engines, each in its own run:

* SQLAlchemy defaults: ``sqlalchemy.create_engine(url)`` (pool 5 + 10 overflow, 30 s pool
  timeout, libpq waits forever to connect);
* poolwarden engine: ``runtime.engine.create_engine`` (pool 5, 5 s pool timeout, 5 s connect
  timeout, pre-ping);
* poolwarden engine + ``CircuitBreaker(failure_threshold=3, reset_timeout=0.5)`` attached with
  ``connect_deadline=1``.

Reported: latency of requests started during the outage (p50 / p99 / max; a request still hung
when the network heals is counted with the time it had waited by then), and the time from
healing to the first successful request and to every client having had one.
Goals (issue 5): p99 during the outage ≤ 50 ms with the breaker (versus SQLAlchemy's 30 s pool
timeout); recovery ≤ 1 s.
Usage: ``.venv/bin/python benchmarks/breaker_outage.py [--clients 24] [--outage 35] [--interval 0.05]``
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy

from poolwarden.runtime.breaker import CircuitBreaker
from poolwarden.runtime.engine import create_engine
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
from poolwarden.testing.proxy import TcpProxy

SELECT1 = sqlalchemy.text("SELECT 1")


@dataclass
class Request:
    client: int
    started: float
    ended: float | None = None
    ok: bool = False
    error: str = ""


def plain(url: str) -> Any:
    return sqlalchemy.create_engine(url)


def bounded(url: str) -> Any:
    return create_engine(url)


def with_breaker(url: str) -> Any:
    engine = create_engine(url)
    CircuitBreaker(failure_threshold=3, reset_timeout=0.5).attach(engine, connect_deadline=1)
    return engine


def run(cluster: PostgresCluster, make: Callable[[str], Any], args: argparse.Namespace) -> dict[str, Any]:
    with TcpProxy(cluster.host, cluster.port) as proxy:
        url = proxy.dsn(cluster.dsn()).replace("postgresql://", "postgresql+psycopg://")
        engine = make(url)
        log: list[Request] = []
        stop = threading.Event()

        def client(n: int) -> None:
            while not stop.is_set():
                req = Request(n, time.monotonic())
                log.append(req)
                try:
                    with engine.connect() as conn:
                        conn.execute(SELECT1)
                    req.ok = True
                except Exception as exc:
                    req.error = type(exc).__name__
                req.ended = time.monotonic()
                pause = args.interval - (req.ended - req.started)
                if pause > 0:
                    stop.wait(pause)  # pacing: each client sends one request per interval

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(args.calm)
        cut = time.monotonic()
        proxy.reset()
        proxy.partition()
        time.sleep(args.outage)
        heal = time.monotonic()
        proxy.heal()
        deadline = heal + args.recovery
        while time.monotonic() < deadline:
            served = {r.client for r in list(log) if r.ok and r.started >= heal}
            if len(served) == args.clients:
                break
            time.sleep(0.01)
        stop.set()
        for t in threads:
            t.join(timeout=args.recovery)
        engine.dispose()
    during = [min(r.ended or heal, heal) - r.started for r in log if cut <= r.started < heal]
    after = [r for r in log if r.ok and r.started >= heal]
    firsts: dict[int, float] = {}
    for r in sorted(after, key=lambda r: r.ended or 0):
        firsts.setdefault(r.client, (r.ended or heal) - heal)
    errors: dict[str, int] = {}
    for r in log:
        if cut <= r.started < heal and not r.ok:
            errors[r.error or "hung until healed"] = errors.get(r.error or "hung until healed", 0) + 1
    during.sort()
    return {"requests": len(during), "p50": statistics.median(during) if during else None,
            "p99": during[int(0.99 * (len(during) - 1))] if during else None, "max": max(during, default=None),
            "first": min(firsts.values(), default=None),
            "all": max(firsts.values()) if len(firsts) == args.clients else None, "errors": errors}


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    logging.getLogger("poolwarden.breaker").setLevel(logging.ERROR)  # one line per transition otherwise
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--calm", type=float, default=2.0)
    parser.add_argument("--outage", type=float, default=35.0)
    parser.add_argument("--recovery", type=float, default=40.0)
    args = parser.parse_args()
    variants = [("SQLAlchemy defaults", plain), ("poolwarden engine", bounded),
                ("poolwarden engine + breaker", with_breaker)]
    with PostgresCluster(find_pg_bin()) as cluster:
        results = [(name, run(cluster, make, args)) for name, make in variants]
    print(f"{args.clients} clients, one request each per {args.interval * 1000:.0f} ms; outage {args.outage:g} s")
    print("| engine | requests in outage | p50 | p99 | max | first success after heal | all clients served |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r['requests']} | {fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['max'])} | "
              f"{fmt(r['first'])} | {fmt(r['all'])} |")
    for name, r in results:
        print(f"{name}: outage outcomes {r['errors']}")


if __name__ == "__main__":
    main()
