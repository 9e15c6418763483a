"""runtime.tenants.EngineRegistry under concurrent tenants, watched from pg_stat_activity."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import select
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg2
import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from poolwarden.runtime import engine as rt
from poolwarden.runtime.errors import ErrorKind, classify
from poolwarden.runtime.tenants import EngineRegistry, TenantCapReached
from poolwarden.testing.proxy import TcpProxy

from .conftest import joined, until

SELECT1 = sqlalchemy.text("SELECT 1")


def _template(dsn: str, driver: str) -> str:
    """One database; each tenant gets its own application_name, so the server tells them apart."""
    return dsn.replace("postgresql://", f"postgresql+{driver}://") + "?application_name=pwt-{tenant}"


def _count(admin_dsn: str) -> int:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pwt-%'").fetchone()
        assert row is not None
        return int(row[0])


@contextlib.contextmanager
def watch(admin_dsn: str) -> Iterator[list[int]]:
    """Sample the tenants' server connections until the block ends; yields the samples."""
    samples: list[int] = []
    stop = threading.Event()

    def run() -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            while not stop.is_set():
                # A backend whose client has closed stays listed until its process exits (a few ms,
                # more on a busy machine): idle, and no longer waiting for the client. It is not a
                # connection any more, so it is left out; a live idle one waits in ClientRead.
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pwt-%' "
                    "AND NOT (state = 'idle' AND wait_event IS NULL)").fetchone()
                assert row is not None
                samples.append(int(row[0]))

    t = threading.Thread(target=run)
    t.start()
    try:
        yield samples
    finally:
        stop.set()
        joined(t)



def test_caps_hold_under_concurrent_tenants(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=3, max_connections=4, pool_size=2,
                              pool_timeout=30)
    errors: list[BaseException] = []
    alive: list[int] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                tenant = f"t{(n * 7 + i) % 10}"
                with registry.connect(tenant) as conn:
                    alive.append(len(registry.tenants()))
                    conn.execute(sqlalchemy.text("SELECT pg_sleep(0.002)"))
        except BaseException as exc:
            errors.append(exc)

    try:
        with watch(postgres) as samples:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                joined(t)
        assert not errors, errors[:3]
        stats = registry.stats()
        assert max(samples) <= 4 and stats.peak_connections <= 4, (max(samples), stats)
        assert max(alive) <= 3 and len(registry.tenants()) == 3
        assert stats.engines_created_total > 3  # tenants came and went: evictions happened under load
        assert samples and max(samples) >= 2  # the watcher saw real work
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_eviction_waits_for_checked_out_connections(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg2"), max_engines=1, max_connections=5)
    try:
        held = registry.get("a").connect()
        held.execute(SELECT1)
        with registry.connect("b") as conn:  # evicts "a" while one of its connections is out
            conn.execute(SELECT1)
        assert registry.tenants() == ["b"] and registry.stats().draining == 1
        assert held.execute(sqlalchemy.text("SELECT 2")).scalar() == 2  # still the caller's, still working
        held.close()
        registry.get("b")  # the next call drains what came back
        assert registry.stats().draining == 0 and registry.stats().engines_disposed_total == 1
        until(lambda: _count(postgres) == 1)  # only b's pooled connection is left
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_process_cap_fails_fast_and_reclaims_idle_pools(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=4, max_connections=1, pool_timeout=0.3)
    try:
        with registry.connect("a") as conn:
            conn.execute(SELECT1)
            with pytest.raises(TenantCapReached) as info:
                registry.get("b").connect()
            assert classify(info.value) is ErrorKind.CONNECTION and "1 connections" in str(info.value)
        with registry.connect("b") as conn:  # a's connection is idle in a's pool: closed to make room
            conn.execute(SELECT1)
        assert registry.stats().peak_connections == 1
    finally:
        registry.dispose()
    until(lambda: _count(postgres) == 0)


def test_async_registry_caps_hold(postgres: str) -> None:
    url = postgres.replace("postgresql://", "postgresql+asyncpg://")
    registry = EngineRegistry(lambda tenant: url, asynchronous=True, max_engines=2, max_connections=3,
                              pool_size=2, pool_timeout=30, application_name="pwt-async")

    async def one(i: int) -> int:
        async with registry.aconnect(f"t{i % 6}") as conn:
            await conn.execute(sqlalchemy.text("SELECT pg_sleep(0.01)"))
        return len(registry.tenants())

    async def main() -> list[int]:
        try:
            return list(await asyncio.gather(*(one(i) for i in range(60))))
        finally:
            await registry.adispose()

    with watch(postgres) as samples:
        alive = asyncio.run(main())
    assert max(alive) <= 2
    assert max(samples) <= 3 and registry.stats().peak_connections <= 3
    assert registry.stats().engines_created_total > 2 and max(samples) >= 2
    until(lambda: _count(postgres) == 0)


def test_worst_case_is_registered_for_budget(postgres: str) -> None:
    registry = EngineRegistry(_template(postgres, "psycopg"), max_engines=40, max_connections=12)
    record = rt.registered_engines()[-1]
    assert record.worst_case == 12 == registry.worst_case
    assert record.extra["kind"] == "tenant-registry" and ":***@" in record.url and "{tenant}" in record.url
    registry.dispose()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "postgresql://x/db"}, "{tenant}"),
    ({"max_engines": 0}, "max_engines"),
    ({"max_connections": 2.5}, "max_connections"),
])
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    args = {"url": "postgresql+psycopg://u@h/{tenant}", **kwargs}
    with pytest.raises(ValueError, match=message):
        EngineRegistry(**args)


# -- the count follows real connections on every path (issue 11, item 1) ----------------------------
# Each test below ends with the registry's count equal to the server's: the connections of this
# test's database whose application_name is the registry's (``pwc-<tenant>``).

def _server_count(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name LIKE 'pwc-%'").fetchone()
        assert row is not None
        return int(row[0])


def _all_given_back(registry: EngineRegistry, dsn: str) -> None:
    """After ``dispose()``: the registry counts no connection, and the server soon shows none."""
    assert registry.stats().connections == 0
    until(lambda: _server_count(dsn) == 0)


def _url(dsn: str, driver: str) -> str:
    return dsn.replace("postgresql://", f"postgresql+{driver}://") + "?application_name=pwc-{tenant}"


def _agrees(registry: EngineRegistry, dsn: str) -> None:
    """The registry counts what the server has (a closed backend may take a moment to leave)."""
    until(lambda: registry.stats().connections == _server_count(dsn))


class _Flaky:
    """A ``connect`` listener that runs ``fault`` (by default: raises) for the next ``left`` connects."""

    def __init__(self, fault: Any = None) -> None:
        self.left = 0
        self.fault = fault

    def __call__(self, dbapi_conn: Any, record: Any) -> None:
        if self.left > 0:
            self.left -= 1
            if self.fault is not None:
                self.fault(dbapi_conn)
            raise RuntimeError("connect listener failed")


def _fail_until_spent(registry: EngineRegistry, tenants: list[str], flaky: _Flaky,
                      errors: tuple[type[BaseException], ...] = (RuntimeError,)) -> int:
    """Connect (round robin over ``tenants``) while ``flaky`` still fails; every attempt must fail
    with the listener's error, never with ``TenantCapReached``. Returns the attempts made."""
    attempts = 0
    while flaky.left > 0:
        assert attempts < 50
        with pytest.raises(errors), registry.connect(tenants[attempts % len(tenants)]) as conn:
            conn.execute(SELECT1)
        attempts += 1
    return attempts


def _every_tenant_connects(registry: EngineRegistry, dsn: str, tenants: list[str]) -> None:
    """All of ``tenants`` hold a connection at once (the cap allows exactly that), then a new tenant
    connects too (idle pools reclaimed); the count agrees with the server throughout."""
    with contextlib.ExitStack() as stack:
        for tenant in tenants:
            stack.enter_context(registry.connect(tenant)).execute(SELECT1)
        assert registry.stats().connections == len(tenants) == registry.max_connections
        _agrees(registry, dsn)
    with registry.connect("newcomer") as conn:
        conn.execute(SELECT1)
    _agrees(registry, dsn)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_failed_connect_listener_gives_the_slot_back(postgres: str, driver: str) -> None:
    registry = EngineRegistry(_url(postgres, driver), max_engines=4, max_connections=2, pool_timeout=0.3)
    flaky = _Flaky()
    try:
        for tenant in ("a", "b"):
            event.listen(registry.get(tenant), "connect", flaky)
        flaky.left = 3 * registry.max_connections
        assert _fail_until_spent(registry, ["a", "b"], flaky) == 6
        assert registry.stats().connections == 0
        _agrees(registry, postgres)
        _every_tenant_connects(registry, postgres, ["a", "b"])
    finally:
        registry.dispose()
    _all_given_back(registry, postgres)


def test_failed_connect_listener_gives_the_slot_back_asyncio(postgres: str) -> None:
    url = postgres.replace("postgresql://", "postgresql+asyncpg://")
    registry = EngineRegistry(lambda tenant: url, asynchronous=True, max_engines=4, max_connections=2,
                              pool_timeout=0.3, connect_args={"server_settings": {"application_name": "pwc-async"}})
    flaky = _Flaky()

    async def main() -> None:
        for tenant in ("a", "b"):
            event.listen(registry.get(tenant).sync_engine, "connect", flaky)
        flaky.left = 6
        for i in range(6):
            with pytest.raises(RuntimeError, match="listener failed"):
                async with registry.aconnect("ab"[i % 2]) as conn:
                    await conn.execute(SELECT1)
        assert registry.stats().connections == 0
        async with registry.aconnect("a") as ca, registry.aconnect("b") as cb:
            await ca.execute(SELECT1)
            await cb.execute(SELECT1)
            assert registry.stats().connections == 2 == _server_count(postgres)
        await registry.adispose()

    asyncio.run(main())
    assert registry.stats().connections == 0
    until(lambda: _server_count(postgres) == 0)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_network_reset_during_connect_gives_the_slot_back(postgres: str, postgres_cluster: Any, driver: str) -> None:
    with TcpProxy(postgres_cluster.host, postgres_cluster.port) as proxy:
        registry = EngineRegistry(_url(proxy.dsn(postgres), driver), max_engines=4, max_connections=2,
                                  pool_timeout=0.3)

        def reset_then_use(dbapi_conn: Any) -> None:
            # the network resets the connection after the DBAPI connect, while SQLAlchemy's
            # connect step still talks to the server: the driver's own error propagates
            proxy.reset()
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")

        flaky = _Flaky(reset_then_use)
        try:
            for tenant in ("a", "b"):
                event.listen(registry.get(tenant), "connect", flaky)
            flaky.left = 3 * registry.max_connections
            _fail_until_spent(registry, ["a", "b"], flaky, (sqlalchemy.exc.DBAPIError, psycopg.Error, psycopg2.Error))
            assert registry.stats().connections == 0
            proxy.refuse()  # the DBAPI connect itself fails too
            for tenant in ("a", "b", "c"):
                with pytest.raises(sqlalchemy.exc.OperationalError), registry.connect(tenant):
                    pass
            proxy.heal()
            _agrees(registry, postgres)
            _every_tenant_connects(registry, postgres, ["a", "b"])
        finally:
            registry.dispose()
        _all_given_back(registry, postgres)


def test_resets_under_concurrent_connects_leave_the_count_honest(postgres: str, postgres_cluster: Any) -> None:
    """The issue's reproduction, bounded: threads connect through a proxy that resets every
    connection it has as soon as a new one arrives (whatever step of the connect or the query that
    hits); afterwards every tenant connects and the count equals the server's."""
    with TcpProxy(postgres_cluster.host, postgres_cluster.port) as proxy:
        registry = EngineRegistry(_url(proxy.dsn(postgres), "psycopg"), max_engines=4, max_connections=2,
                                  pool_size=2, pool_timeout=5)
        stop = threading.Event()
        errors: list[BaseException] = []

        def resetter() -> None:
            seen = proxy.accepted
            while not stop.is_set():
                if proxy.accepted != seen:
                    seen = proxy.accepted
                    proxy.reset()
                stop.wait(0.001)  # a fault injector's pace, not a wait for a result

        def worker(n: int) -> None:
            for i in range(15):
                try:
                    with registry.connect("abc"[(n + i) % 3]) as conn:
                        conn.execute(SELECT1)
                except (sqlalchemy.exc.DBAPIError, psycopg.Error):
                    pass  # the resets' doing
                except BaseException as exc:  # TenantCapReached here would be a leaked slot
                    errors.append(exc)

        chaos = threading.Thread(target=resetter)
        chaos.start()
        try:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                joined(t)
        finally:
            stop.set()
            joined(chaos)
        try:
            assert not errors, errors[:3]
            assert proxy.accepted > 0
            assert registry.stats().peak_connections <= 2
            proxy.reset()  # what is pooled is dead now: pre-ping replaces it
            _every_tenant_connects(registry, postgres, ["a", "b"])
        finally:
            registry.dispose()
        _all_given_back(registry, postgres)


def _backend_pid(conn: Any) -> int:
    return int(conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar())


@pytest.mark.parametrize("path", ["invalidate", "terminate-on-use", "terminate-pre-ping", "soft-invalidate",
                                  "recycle"])
def test_invalidated_and_replaced_connections_give_the_slot_back(postgres: str, path: str) -> None:
    """A connection invalidated (by the caller, or because the server killed it), or replaced at
    checkout (pre-ping, soft invalidation, recycle), gives its slot back; so does each failed
    reconnect after it (a restart's transient failures)."""
    options: dict[str, Any] = {"pool_pre_ping": path != "terminate-on-use"}
    if path == "recycle":
        options["pool_recycle"] = 0  # every checkout replaces the connection
    registry = EngineRegistry(_url(postgres, "psycopg"), max_engines=4, max_connections=2, pool_size=1,
                              pool_timeout=0.3, **options)
    flaky = _Flaky()
    try:
        for tenant in ("a", "b"):
            event.listen(registry.get(tenant), "connect", flaky)
        for _ in range(3):
            with registry.connect("a") as conn:
                pid = _backend_pid(conn)
                if path == "invalidate":
                    conn.invalidate()
                elif path == "soft-invalidate":
                    conn.connection.invalidate(soft=True)
            assert registry.stats().connections <= 1
            _agrees(registry, postgres)
            if path.startswith("terminate"):
                with psycopg.connect(postgres, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            if path == "terminate-on-use":  # detected on use: the statement fails, the pool invalidates
                with pytest.raises(sqlalchemy.exc.OperationalError), registry.connect("a") as conn:
                    conn.execute(SELECT1)
                assert registry.stats().connections == 0
            flaky.left = 2 * registry.max_connections  # the reconnects fail for a while
            _fail_until_spent(registry, ["a"], flaky)
            assert registry.stats().connections == 0
            _agrees(registry, postgres)
        _every_tenant_connects(registry, postgres, ["a", "b"])
    finally:
        registry.dispose()
    until(lambda: _server_count(postgres) == 0)


def test_dispose_leaves_nothing_counted(postgres: str) -> None:
    registry = EngineRegistry(_url(postgres, "psycopg"), max_engines=4, max_connections=3, pool_size=2,
                              pool_timeout=0.3)
    flaky = _Flaky()
    try:
        for tenant in ("a", "b"):
            event.listen(registry.get(tenant), "connect", flaky)
        with registry.connect("a") as ca, registry.connect("b") as cb:
            ca.execute(SELECT1)
            cb.execute(SELECT1)
        with registry.connect("a") as ca:  # a's pooled connection; a second one for "a" fails to connect
            ca.execute(SELECT1)
            flaky.left = 1
            _fail_until_spent(registry, ["a"], flaky)
        assert registry.stats().connections == 2
        _agrees(registry, postgres)
    finally:
        registry.dispose()
    _all_given_back(registry, postgres)


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_forked_child_counts_its_own_connections(postgres: str, driver: str) -> None:
    """A child forked while the parent is at the cap starts from 0: it gets a connection of its own
    (never the parent's), counts it, and the parent's connection survives the child."""
    registry = EngineRegistry(_url(postgres, driver), max_engines=4, max_connections=1, pool_timeout=0.3)
    try:
        with registry.connect("a") as conn:
            parent_pid = _backend_pid(conn)
            assert registry.stats().connections == 1
            read, write = os.pipe()
            child = os.fork()
            if child == 0:  # the child: report, then leave without running the parent's cleanup
                code = 1
                try:
                    os.close(read)
                    before = registry.stats().connections
                    with registry.connect("a") as mine:
                        report = {"before": before, "pid": _backend_pid(mine),
                                  "holding": registry.stats().connections, "server": _server_count(postgres)}
                    report["after"] = registry.stats().connections
                    os.write(write, json.dumps(report).encode())
                    code = 0
                except BaseException as exc:
                    os.write(write, json.dumps({"error": repr(exc)}).encode())
                finally:
                    os._exit(code)
            os.close(write)
            try:
                ready, _, _ = select.select([read], [], [], 60)
                assert ready, "the child did not answer within 60 s"
                report = json.loads(os.read(read, 65536) or b"{}")
            finally:
                os.close(read)
                until(lambda: os.waitpid(child, os.WNOHANG)[0] != 0, bound=60)
            assert "error" not in report, report
            assert report["before"] == 0 and report["holding"] == 1 == report["after"], report
            assert report["pid"] != parent_pid and report["server"] == 2, report
            assert _backend_pid(conn) == parent_pid  # the parent's connection still works
            assert registry.stats().connections == 1
        _agrees(registry, postgres)  # the child's connection went with the child
    finally:
        registry.dispose()
    until(lambda: _server_count(postgres) == 0)


def test_engine_disposed_under_a_checked_out_connection_gives_the_slot_back_when_collected(postgres: str) -> None:
    """``engine.dispose()`` with a connection out leaves it to the old pool; returned, it is dropped with
    that pool (no close event, no close call): the slot comes back when the connection is collected."""
    registry = EngineRegistry(_url(postgres, "psycopg"), max_engines=4, max_connections=1, pool_timeout=0.3)
    try:
        with registry.connect("a") as conn:
            conn.execute(SELECT1)
            registry.get("a").dispose()
        gc.collect()
        assert registry.stats().connections == 0
        _agrees(registry, postgres)
        with registry.connect("b") as conn:
            conn.execute(SELECT1)
            _agrees(registry, postgres)
    finally:
        registry.dispose()
    until(lambda: _server_count(postgres) == 0)


GENERATED = {"operation sequences": 0}


def _release(stack: contextlib.ExitStack) -> None:
    """Give a held connection back; one whose backend was killed fails its rollback (and is invalidated)."""
    with contextlib.suppress(sqlalchemy.exc.OperationalError):
        stack.close()

_OPS = st.one_of(st.tuples(st.just("hold"), st.sampled_from("abc")), st.tuples(st.just("release")),
                 st.tuples(st.just("fail"), st.sampled_from("abc")), st.tuples(st.just("invalidate")),
                 st.tuples(st.just("kill")), st.tuples(st.just("dispose-engine"), st.sampled_from("abc")))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OPS, min_size=1, max_size=10))
def test_any_sequence_of_paths_keeps_the_count_honest(postgres: str, ops: list[tuple[str, ...]]) -> None:
    """Holds, releases, failed connects, invalidations, killed backends and engine disposals in any
    order: the count never passes the cap nor falls under what the server has; at the end every
    tenant connects at once (the cap allows exactly that), the count equals the server's, and
    dispose leaves 0 on both sides."""
    GENERATED["operation sequences"] += 1
    registry = EngineRegistry(_url(postgres, "psycopg"), max_engines=3, max_connections=3, pool_size=1,
                              pool_timeout=0.3)
    flaky = _Flaky()
    held: list[tuple[contextlib.ExitStack, Any]] = []
    try:
        for tenant in "abc":
            event.listen(registry.get(tenant), "connect", flaky)
        for op in ops:
            if op[0] == "hold":
                stack = contextlib.ExitStack()
                try:
                    conn = stack.enter_context(registry.connect(op[1]))
                    conn.execute(SELECT1)
                except (TenantCapReached, sqlalchemy.exc.TimeoutError, sqlalchemy.exc.OperationalError):
                    # at the process cap / the tenant's pool is all out / a killed backend
                    stack.close()
                else:
                    held.append((stack, conn))
            elif op[0] == "release" and held:
                _release(held.pop(0)[0])
            elif op[0] == "fail":
                flaky.left = 1
                with contextlib.suppress(RuntimeError, TenantCapReached, sqlalchemy.exc.TimeoutError,
                                         sqlalchemy.exc.OperationalError), \
                        registry.connect(op[1]) as conn:
                    conn.execute(SELECT1)  # an idle pooled connection needs no connect: no failure then
                flaky.left = 0
            elif op[0] == "invalidate" and held:
                held[-1][1].invalidate()
            elif op[0] == "kill":
                with psycopg.connect(postgres, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                                  "current_database() AND application_name LIKE 'pwc-%' LIMIT 1")
            elif op[0] == "dispose-engine":
                registry.get(op[1]).dispose()
            gc.collect()
            assert registry.stats().connections <= registry.max_connections
            until(lambda: _server_count(postgres) <= registry.stats().connections)
        for stack, _ in held:
            _release(stack)
        held.clear()
        gc.collect()
        _every_tenant_connects(registry, postgres, ["a", "b", "c"])
    finally:
        for stack, _ in held:
            _release(stack)
        registry.dispose()
    _all_given_back(registry, postgres)
