"""Run as root inside ``unshare -n -m``: requests in flight while the network silently drops packets.

Inside the new network namespace: ``lo`` up, a :class:`~poolwarden.testing.proxy.TcpProxy` on
127.0.0.1 forwarding to the cluster's Unix socket (a path reaches the server from any network
namespace), and, for the partition, an nftables table dropping every TCP packet to or from the
proxy's port: no answer, no reset, no ICMP — what a partition, a failed-over address or a NAT that
forgot the flow looks like to the client. The namespace (and the table) goes with this process.

For each driver (``psycopg``, ``psycopg2``, ``asyncpg``) and each engine — ``bounded``
(:func:`poolwarden.runtime.engine.create_engine` / ``create_async_engine``, default settings) and
``plain`` (``sqlalchemy.create_engine(url)``) — requests, all at once:

* ``in-flight``: ``SELECT count(*) FROM pw_partition``, sent before the partition and held by a lock
  an admin connection (over the Unix socket, unaffected) holds: the server has acknowledged it and
  the client only reads — nothing unacknowledged, so only keepalive probes can notice the dead peer;
* ``sent-after``: ``SELECT 1`` on a connection checked out before the partition, sent after it
  began: unacknowledged data, so ``tcp_user_timeout`` (or the kernel's ~15 min) decides.

Bounded requests go through one :class:`~poolwarden.runtime.breaker.CircuitBreaker` per driver
(``failure_threshold`` = the number of bounded requests per driver). The partition lasts until every
bounded request has finished (at most ``deadline`` seconds) and at least ``partition`` seconds; at
that moment each plain request is recorded as still blocked or not. Then the partition heals, the
lock is released, and plain requests get ``after_heal`` more seconds to finish.

``--check``: only set up and remove the partition (does this kernel filter packets?).
Otherwise reads JSON on stdin: ``{"sockets", "port", "dbname", "partition", "deadline", "after_heal",
"in_flight": n}`` (``in_flight``: bounded in-flight requests per driver; plain engines get one).
Prints JSON: ``{"requests": [{driver, engine, kind, outcome, waited, error, classified}],
"breakers": {driver: state}, "partition": seconds}`` — ``outcome`` is ``error``, ``ok`` or
``blocked``; ``waited`` is measured from the start of the partition.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine as sa_create_async_engine

from poolwarden.runtime.breaker import CircuitBreaker
from poolwarden.runtime.engine import create_async_engine, create_engine
from poolwarden.runtime.errors import classify
from poolwarden.testing.proxy import TcpProxy

DRIVERS = ("psycopg", "psycopg2", "asyncpg")
READ = sqlalchemy.text("SELECT count(*) FROM pw_partition")
PING = sqlalchemy.text("SELECT 1")


@dataclass
class Request:
    driver: str
    engine: str
    kind: str
    outcome: str = "blocked"
    waited: float | None = None
    error: str = ""
    classified: str = ""


class Clock:
    """Seconds since the partition began (None before)."""

    def __init__(self) -> None:
        self.start: float | None = None

    def since(self) -> float:
        assert self.start is not None
        return time.monotonic() - self.start


def _nft(*script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input="\n".join(script), text=True, check=True, capture_output=True,
                   timeout=30)


def partition(port: int) -> None:
    _nft("table inet pw_partition {", " chain out {", "  type filter hook output priority 0;",
         f"  tcp dport {port} drop", f"  tcp sport {port} drop", " }", "}")


def heal() -> None:
    _nft("delete table inet pw_partition")


def _settle(req: Request, clock: Clock, fn: Callable[[], Any]) -> None:
    """Run ``fn`` and record how the request ended."""
    try:
        fn()
    except Exception as exc:
        _finish(req, clock, exc)
    else:
        _finish(req, clock, None)


async def _asettle(req: Request, clock: Clock, request: Awaitable[Any]) -> None:
    """Await ``request`` and record how it ended."""
    try:
        await request
    except Exception as exc:
        _finish(req, clock, exc)
    else:
        _finish(req, clock, None)


def _finish(req: Request, clock: Clock, exc: BaseException | None) -> None:
    req.waited = clock.since() if clock.start is not None else 0.0
    if exc is None:
        req.outcome = "ok"
    else:
        req.outcome = "error"
        req.error = f"{type(exc).__name__}: {exc}"[:300]
        req.classified = classify(exc).name


def _thread(fn: Callable[[], None]) -> Future[None]:
    done: Future[None] = Future()

    def run() -> None:
        try:
            fn()
            done.set_result(None)
        except BaseException as exc:  # reported through the future
            done.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return done


class SyncSide:
    """One sync engine's requests, each in a thread."""

    def __init__(self, engine: Any, breaker: CircuitBreaker | None) -> None:
        self.engine = engine
        self.breaker = breaker

    def guarded(self, fn: Callable[[], Any]) -> Any:
        return fn() if self.breaker is None else self.breaker.call(fn)

    def in_flight(self, req: Request, clock: Clock) -> Future[None]:
        def query() -> None:
            with self.engine.connect() as conn:
                conn.execute(READ).scalar()
        return _thread(lambda: _settle(req, clock, lambda: self.guarded(query)))

    def sent_after(self, req: Request, clock: Clock, go: threading.Event) -> tuple[threading.Event, Future[None]]:
        ready = threading.Event()

        def run() -> None:
            with self.engine.connect() as conn:
                conn.execute(PING).scalar()  # checked out and used before the partition
                ready.set()
                if not go.wait(timeout=600):  # the partition never began: the run failed elsewhere
                    return
                _settle(req, clock, lambda: self.guarded(lambda: conn.execute(PING).scalar()))
        return ready, _thread(run)

    def dispose(self) -> None:
        self.engine.dispose()


class AsyncSide:
    """One asyncio engine's requests, as tasks on its own event loop (in a thread)."""

    def __init__(self, make: Callable[[], Any], breaker: CircuitBreaker | None) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.breaker = breaker
        self.engine = self.call(self._make(make))

    @staticmethod
    async def _make(make: Callable[[], Any]) -> Any:
        return make()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def _submit(self, coro: Any) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def _guarded(self, fn: Callable[[], Any]) -> None:
        if self.breaker is None:
            await fn()
        else:
            async with self.breaker:
                await fn()

    def in_flight(self, req: Request, clock: Clock) -> Future[None]:
        async def query() -> None:
            async with self.engine.connect() as conn:
                (await conn.execute(READ)).scalar()

        return self._submit(_asettle(req, clock, self._guarded(query)))

    def sent_after(self, req: Request, clock: Clock, go: threading.Event) -> tuple[threading.Event, Future[None]]:
        ready = threading.Event()

        async def run() -> None:
            async with self.engine.connect() as conn:
                (await conn.execute(PING)).scalar()
                ready.set()
                while not go.is_set():  # bounded by the caller: it sets go, or the process ends
                    await asyncio.sleep(0.01)

                async def ping() -> None:
                    (await conn.execute(PING)).scalar()
                await _asettle(req, clock, self._guarded(ping))
        return ready, self._submit(run())

    def dispose(self) -> None:
        self.call(self.engine.dispose())


def _url(port: int, dbname: str, driver: str) -> str:
    return f"postgresql+{driver}://postgres:postgres@127.0.0.1:{port}/{dbname}"


def _side(driver: str, engine: str, url: str, breaker: CircuitBreaker | None) -> SyncSide | AsyncSide:
    if driver == "asyncpg":
        make = (lambda: create_async_engine(url)) if engine == "bounded" else (lambda: sa_create_async_engine(url))
        return AsyncSide(make, breaker)
    return SyncSide(create_engine(url) if engine == "bounded" else sqlalchemy.create_engine(url), breaker)


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {timeout} s for {what}")
        time.sleep(0.05)


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True, timeout=30)
    if sys.argv[1:] == ["--check"]:  # can this kernel drop packets? (partition and heal, nothing else)
        partition(9)
        heal()
        return
    cfg = json.load(sys.stdin)
    admin_dsn = f"host={cfg['sockets']} port={cfg['port']} dbname={cfg['dbname']} user=postgres"
    clock, go = Clock(), threading.Event()
    requests: list[Request] = []
    futures: list[tuple[Request, Future[None]]] = []
    breakers: dict[str, CircuitBreaker] = {}
    sides: list[SyncSide | AsyncSide] = []
    with TcpProxy(cfg["sockets"], cfg["port"]) as proxy, \
            psycopg.connect(admin_dsn, autocommit=True, application_name="pw-partition-admin") as admin, \
            psycopg.connect(admin_dsn, autocommit=True, application_name="pw-partition-watch") as watch:
        admin.execute("CREATE TABLE IF NOT EXISTS pw_partition ()")
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE pw_partition IN ACCESS EXCLUSIVE MODE")
        readies = []
        for driver in DRIVERS:
            for engine in ("bounded", "plain"):
                n = cfg["in_flight"] if engine == "bounded" else 1
                breaker = None
                if engine == "bounded":
                    breaker = breakers[driver] = CircuitBreaker(failure_threshold=n + 1, reset_timeout=600,
                                                                name=driver)
                side = _side(driver, engine, _url(proxy.port, cfg["dbname"], driver), breaker)
                sides.append(side)
                req = Request(driver, engine, "sent-after")
                ready, fut = side.sent_after(req, clock, go)
                requests.append(req)
                futures.append((req, fut))
                readies.append(ready)
                for _ in range(n):
                    req = Request(driver, engine, "in-flight")
                    requests.append(req)
                    futures.append((req, side.in_flight(req, clock)))
        in_flight = sum(1 for r in requests if r.kind == "in-flight")
        _wait_for(lambda: all(r.is_set() for r in readies), 60, "the sent-after connections")
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pw_partition%'"
        _wait_for(lambda: watch.execute(waiting).fetchone()[0] == in_flight, 60,  # type: ignore[index]
                  "the in-flight requests to reach the server")
        partition(proxy.port)
        clock.start = time.monotonic()
        go.set()
        bounded = [f for r, f in futures if r.engine == "bounded"]
        deadline = clock.start + cfg["deadline"]
        _wait_for(lambda: all(f.done() for f in bounded) or time.monotonic() > deadline, cfg["deadline"] + 5,
                  "the bounded requests")
        remaining = cfg["partition"] - clock.since()
        if remaining > 0:
            time.sleep(remaining)  # the partition's length itself (benchmarks), not a race fix
        healed_at = clock.since()
        snapshot = [asdict(r) for r in requests]  # who is still blocked as the partition ends
        heal()
        admin.execute("ROLLBACK")
        plain = [f for r, f in futures if r.engine == "plain"]
        after = time.monotonic() + cfg["after_heal"]
        _wait_for(lambda: all(f.done() for f in plain) or time.monotonic() > after, cfg["after_heal"] + 5,
                  "the plain requests after healing")
        after_heal = [asdict(r) for r in requests]
        for side in sides:
            side.dispose()
    print(json.dumps({"requests": snapshot, "after_heal": after_heal, "partition": healed_at,
                      "breakers": {d: b.state for d, b in breakers.items()}}))
    sys.stdout.flush()
    os._exit(0)  # requests still blocked (plain engines) end with the process and its namespace


if __name__ == "__main__":
    main()
