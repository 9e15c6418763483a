"""Engines per tenant, bounded: :class:`EngineRegistry`.

Seed 1 gave every tenant its own engine, so one process could hold
``tenants x (pool_size + max_overflow)`` connections and eight processes took 4,800 of 97.
A registry makes the engines on demand with the bounded settings of
:mod:`poolwarden.runtime.engine`, and bounds two things:

* ``max_engines``: at most this many engines live in the registry. Making one more evicts the
  least recently used; an evicted engine's connections are closed as soon as none of them is
  checked out (at once if idle), so no caller loses a connection it holds.
* ``max_connections``: the connections open across *all* its engines, evicted ones included.
  A connect that would pass it first disposes idle engines' pools (least recently used first),
  then waits up to ``pool_timeout`` for one to close, then fails with :class:`TenantCapReached`
  (a ``TimeoutError``: ``is_transient`` says 503, not "no").

The count follows the real DBAPI connections, whatever path opens or closes them: a slot is taken
before the driver connects (given back at once if that fails) and held by the driver connection
itself until SQLAlchemy closes or terminates it through the dialect (``do_close`` /
``do_terminate``: every close the pool makes, the failed ``connect`` step, invalidation, pre-ping,
recycle, dispose, detached connections) or, failing that, until the connection object is garbage
collected. A forked child starts from its own count of 0 and never touches the parent's
connections (its engines' pools are replaced, not closed).

The registry's worst case, ``max_connections``, is what ``poolwarden budget`` counts for the
process (``registered_engines()`` at run time; ``--code`` reads a literal ``max_connections``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from poolwarden.dsn import mask
from poolwarden.runtime import engine as rt
from poolwarden.runtime.slots import Slots, releasing

__all__ = ["EngineRegistry", "RegistryStats", "TenantCapReached"]

class TenantCapReached(TimeoutError):
    """No connection slot freed up within ``pool_timeout``: the process is at ``max_connections``."""


@dataclass(frozen=True)
class RegistryStats:
    """One registry at one moment (the runtime stats convention: docs/runtime/stats.md).

    Values now: ``engines`` (live), ``draining`` (evicted, closing once idle), ``connections``
    (open across all its engines) and ``peak_connections`` (the most open at once so far).
    Counters since the registry was made: ``engines_created_total``, ``engines_disposed_total``.
    """

    name: str
    engines: int
    draining: int
    connections: int
    peak_connections: int
    engines_created_total: int
    engines_disposed_total: int


_REGISTRIES: weakref.WeakSet[EngineRegistry] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for registry in list(_REGISTRIES):
        registry._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class EngineRegistry:
    """Engines keyed by tenant, made on demand, bounded in number and in connections.

    ``url`` is a template with ``{tenant}`` (``"postgresql+psycopg://app@db/{tenant}"``) or a
    function of the tenant key. Other keywords are :func:`~poolwarden.runtime.engine.create_engine`
    overrides (``pool_size``, ``pool_timeout``, ``connect_args`` …) for every engine.
    """

    def __init__(self, url: str | Callable[[str], str], *, max_engines: int = 8, max_connections: int = 20,
                 asynchronous: bool = False, name: str = "tenants", **overrides: Any) -> None:
        for key, value in (("max_engines", max_engines), ("max_connections", max_connections)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if isinstance(url, str) and "{tenant}" not in url:
            raise ValueError("url must contain '{tenant}' or be a function of the tenant key")
        self._url = url
        self.max_engines = max_engines
        self.max_connections = max_connections
        self.asynchronous = asynchronous
        self.name = name
        pool_keys, overrides = rt.split_overrides(overrides)
        self.settings = rt.PoolSettings.load(**pool_keys)
        self._extra = overrides
        self._slots = Slots(max_connections)
        self._lock = threading.RLock()
        self._engines: OrderedDict[str, Any] = OrderedDict()  # tenant -> Engine / AsyncEngine, LRU first
        self._draining: dict[int, Any] = {}  # evicted, waiting for their checked-out connections
        self._in_use: dict[int, int] = {}  # engine id -> callers inside connect()/begin()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inherited: list[Any] = []  # pools a forked child took over from its parent, never closed
        self._closed = False
        self.created = 0
        self.disposed = 0
        template = url if isinstance(url, str) else f"<{getattr(url, '__name__', 'function')}(tenant)>"
        rt.register_record(rt.EngineRecord(mask(template), self.settings, asynchronous,
                                            {"kind": "tenant-registry", "name": name, "max_engines": max_engines,
                                             "max_connections": max_connections}, cap=self.worst_case))
        _REGISTRIES.add(self)

    # -- public ------------------------------------------------------------------------------------
    @property
    def worst_case(self) -> int:
        """The most connections this registry can have open at once: ``max_connections``, whatever
        the engines' pools (evicted engines still draining included)."""
        return self.max_connections

    def get(self, tenant: str) -> Any:
        """The tenant's engine, made if needed (evicting the least recently used past ``max_engines``).

        Prefer :meth:`connect` / :meth:`begin` (or :meth:`aconnect` / :meth:`abegin`): while one of
        those holds a connection, its engine is never drained. An engine from ``get()`` that gets
        evicted while its caller still uses it keeps working and is drained once idle.
        """
        with self._lock:
            engine = self._get_locked(tenant)
        self._after_eviction()
        return engine

    @contextmanager
    def connect(self, tenant: str) -> Iterator[Any]:
        """``with registry.connect(tenant) as conn``: the tenant engine's ``connect()`` (sync registries)."""
        with self._using(tenant) as engine, engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self, tenant: str) -> Iterator[Any]:
        """``with registry.begin(tenant) as conn``: a transaction, committed on success (sync registries)."""
        with self._using(tenant) as engine, engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def aconnect(self, tenant: str) -> AsyncIterator[Any]:
        """``async with registry.aconnect(tenant) as conn`` (asyncio registries)."""
        with self._using(tenant) as engine:
            async with engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def abegin(self, tenant: str) -> AsyncIterator[Any]:
        """``async with registry.abegin(tenant) as conn``: a transaction (asyncio registries)."""
        with self._using(tenant) as engine:
            async with engine.begin() as conn:
                yield conn

    def tenants(self) -> list[str]:
        """Live tenants, least recently used first."""
        with self._lock:
            return list(self._engines)

    def stats(self) -> RegistryStats:
        """Engines alive and draining, connections open now and at peak, engines made and disposed."""
        with self._lock:
            return RegistryStats(self.name, engines=len(self._engines), draining=len(self._draining),
                                 connections=self._slots.used, peak_connections=self._slots.peak,
                                 engines_created_total=self.created, engines_disposed_total=self.disposed)

    def dispose(self) -> None:
        """Dispose every engine (sync registries); checked-out connections close when returned."""
        for engine in self._close_all():
            engine.dispose()

    async def adispose(self) -> None:
        """Dispose every engine (asyncio registries)."""
        for engine in self._close_all():
            await engine.dispose()

    # -- machinery ---------------------------------------------------------------------------------
    def _get_locked(self, tenant: str) -> Any:
        if self._closed:
            raise RuntimeError(f"engine registry {self.name!r} is closed")
        engine = self._engines.get(tenant)
        if engine is not None:
            self._engines.move_to_end(tenant)
            return engine
        engine = self._make(tenant)
        self._engines[tenant] = engine
        self.created += 1
        while len(self._engines) > self.max_engines:
            _, old = self._engines.popitem(last=False)
            self._draining[id(old)] = old
        return engine

    @contextmanager
    def _using(self, tenant: str) -> Iterator[Any]:
        with self._lock:
            engine = self._get_locked(tenant)
            self._in_use[id(engine)] = self._in_use.get(id(engine), 0) + 1
        try:
            self._after_eviction()
            yield engine
        finally:
            with self._lock:
                left = self._in_use.pop(id(engine), 0) - 1  # 0: a forked child that started from none
                if left > 0:
                    self._in_use[id(engine)] = left

    def _after_eviction(self) -> None:
        if not self._draining:
            return
        if not self.asynchronous:
            self._drain()
            return
        from sqlalchemy.util import greenlet_spawn  # asyncio drivers close inside SQLAlchemy's greenlet

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop here: the next connect at the cap drains
            return
        task = loop.create_task(greenlet_spawn(self._drain))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _close_all(self) -> list[Any]:
        with self._lock:
            self._closed = True
            engines = [*self._engines.values(), *self._draining.values()]
            self._engines.clear()
            self._draining.clear()
        return engines

    def _make(self, tenant: str) -> Any:
        from sqlalchemy import event

        url = self._url.format(tenant=tenant) if isinstance(self._url, str) else self._url(tenant)
        kwargs = rt.merge_engine_kwargs(self.settings.engine_kwargs(url), dict(self._extra))
        engine: Any
        if self.asynchronous:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(url, **kwargs)
        else:
            import sqlalchemy

            engine = sqlalchemy.create_engine(url, **kwargs)
        sync_engine = getattr(engine, "sync_engine", engine)
        slots, timeout, asynchronous = self._slots, self.settings.pool_timeout, self.asynchronous
        dialect = sync_engine.dialect  # this engine's own; its pool closes every connection through it
        dialect.do_close = releasing(dialect.do_close, slots)
        dialect.do_terminate = releasing(dialect.do_terminate, slots)

        @event.listens_for(sync_engine, "do_connect")
        def take_slot(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
            if not slots.take(timeout, asynchronous, lambda: self._free_idle(exclude=engine)):
                raise TenantCapReached(f"engine registry {self.name!r}: {self.max_connections} connections "
                                       f"open across tenants; none freed within {timeout:g} s")
            try:
                conn = dialect.connect(*cargs, **cparams)
            except BaseException:
                slots.give()
                raise
            slots.hold(conn, dialect.get_driver_connection(conn))
            self._adopt(engine)
            return conn

        @event.listens_for(sync_engine, "checkin")
        def hand_over(dbapi_conn: Any, record: Any) -> None:
            if slots.waiting and dbapi_conn is not None:
                # someone waits for a slot: close this connection instead of keeping it idle (the
                # record goes back to the pool empty and reconnects, through the cap, when used)
                record.invalidate()

        return engine

    def _after_fork(self) -> None:
        """In a forked child: count from 0, and give every engine a new, empty pool. The parent's
        connections are left alone (kept referenced, so that no driver closes them here on garbage
        collection); the child opens its own."""
        self._slots.after_fork()
        self._lock = threading.RLock()
        self._in_use.clear()
        self._tasks = set()
        for engine in [*self._engines.values(), *self._draining.values()]:
            sync_engine = getattr(engine, "sync_engine", engine)
            self._inherited.append(sync_engine.pool)
            sync_engine.dispose(close=False)

    def _idle(self, engine: Any) -> Any:
        """The engine's pool when nothing is checked out of it and no caller is inside it, else None.

        Only then is ``pool.dispose()`` (close the idle connections) safe: with connections out it
        would reset the pool's overflow count under them. Called with the lock held."""
        pool = getattr(engine, "sync_engine", engine).pool
        if self._in_use.get(id(engine)) or pool.checkedout() > 0:
            return None
        return pool

    def _drain(self) -> None:
        """Close the idle connections of evicted engines that are idle, and forget them.

        Runs in the caller's thread (sync) or SQLAlchemy's greenlet (asyncio)."""
        with self._lock:
            for key, engine in list(self._draining.items()):
                pool = self._idle(engine)
                if pool is None:
                    continue
                if pool.checkedin():
                    pool.dispose()
                if self._draining.pop(key, None) is not None:
                    self.disposed += 1

    def _adopt(self, engine: Any) -> None:
        """An evicted engine used again through an old reference: drain it again later."""
        with self._lock:
            if id(engine) not in self._draining and not any(e is engine for e in self._engines.values()):
                self._draining[id(engine)] = engine

    def _free_idle(self, exclude: Any) -> None:
        """At the cap: close idle connections, evicted engines first, then least recently used."""
        self._drain()
        with self._lock:
            for engine in list(self._engines.values()):
                if self._slots.used < self.max_connections:
                    return
                pool = self._idle(engine) if engine is not exclude else None
                if pool is not None and pool.checkedin():
                    pool.dispose()
