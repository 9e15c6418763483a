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
import functools
import itertools
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

from poolwarden.dsn import mask
from poolwarden.runtime import engine as rt

__all__ = ["EngineRegistry", "TenantCapReached"]

_RECHECK = 0.05  # seconds between looks for idle connections to close while at the cap


class TenantCapReached(TimeoutError):
    """No connection slot freed up within ``pool_timeout``: the process is at ``max_connections``."""


class _Slots:
    """A counting cap that sync threads and asyncio tasks (inside SQLAlchemy's greenlet) can wait on."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0
        self.peak = 0
        self.waiting = 0  # connects blocked on the cap
        self._cond = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._live: dict[int, tuple[int, Callable[[], Any]]] = {}  # id(DBAPI connection) -> (serial, release)
        self._serials = itertools.count()

    def hold(self, conn: Any, driver_conn: Any = None) -> None:
        """``conn``, a DBAPI connection opened with a slot taken (:meth:`take`) for it, holds that slot until
        :meth:`release` (its close) or until it (else ``driver_conn``, the driver's connection an
        asyncio adapter wraps) is garbage collected, whichever comes first."""
        key, serial = id(conn), next(self._serials)
        release: Callable[[], Any] | None = None
        for target in (conn, driver_conn):
            if target is None:
                continue
            try:
                release = weakref.finalize(target, self._drop, key, serial)
            except TypeError:  # no weak references to this type
                continue
            release.atexit = False
            break
        if release is None:  # nothing to watch: the close alone gives the slot back
            release = functools.partial(self._drop, key, serial)
        with self._cond:
            stale = self._live.get(key)
            self._live[key] = (serial, release)
            if stale is not None:
                # a connection that had this id is gone (ids are unique among live objects) and
                # nothing saw it close: its slot comes back now
                if isinstance(stale[1], weakref.finalize):
                    stale[1].detach()
                self.used -= 1
        if stale is not None:
            self.poke()

    def release(self, conn: Any) -> None:
        """``conn`` is closed: its slot comes back (once; a connection the registry did not open is ignored)."""
        with self._cond:
            entry = self._live.get(id(conn))
        if entry is not None:
            entry[1]()

    def _drop(self, key: int, serial: int) -> None:
        with self._cond:
            entry = self._live.get(key)
            if entry is None or entry[0] != serial:
                return
            del self._live[key]
            self.used -= 1
        self.poke()

    def after_fork(self) -> None:
        """In a forked child: no connection is this process's yet (the parent's stay the parent's, and
        their garbage collection here gives nothing back); locks held by the parent's threads are new."""
        for _, release in self._live.values():
            if isinstance(release, weakref.finalize):
                release.detach()
        self._cond = threading.Condition()
        self._live = {}
        self._waiters = []
        self.used = self.peak = self.waiting = 0

    def try_take(self) -> bool:
        with self._cond:
            if self.used < self.cap:
                self.used += 1
                self.peak = max(self.peak, self.used)
                return True
            return False

    def take(self, timeout: float, asynchronous: bool, reclaim: Callable[[], None]) -> bool:
        """A slot within ``timeout`` seconds; ``reclaim`` runs before each wait (it may close idle
        connections), and every slot given back or connection checked in wakes the waiters."""
        deadline = time.monotonic() + timeout
        while True:
            if self.try_take():
                return True
            reclaim()
            if self.try_take():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            step = min(remaining, _RECHECK)  # idle pools can become closable without a wake-up: look again
            with self._cond:
                self.waiting += 1
            try:
                if asynchronous:
                    self._wait_async(step)
                else:
                    with self._cond:
                        if self.used >= self.cap:
                            self._cond.wait(step)
            finally:
                with self._cond:
                    self.waiting -= 1

    def _wait_async(self, remaining: float) -> None:
        from sqlalchemy.util import await_only

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self.used < self.cap:
                return
            self._waiters.append((loop, future))
        with suppress(asyncio.TimeoutError, TimeoutError):
            await_only(asyncio.wait_for(future, remaining))

    def give(self) -> None:
        """A slot taken for a connect that did not produce a connection comes back."""
        with self._cond:
            self.used -= 1
        self.poke()

    def poke(self) -> None:
        """Wake every waiter to look again (a slot came back, or a connection became idle)."""
        with self._cond:
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _releasing(close: Callable[[Any], None], slots: _Slots) -> Callable[[Any], None]:
    """``close`` (a dialect's ``do_close`` / ``do_terminate``) that gives the connection's slot back
    once it returns or raises (SQLAlchemy discards a connection whose close failed)."""
    def do_close(dbapi_connection: Any) -> None:
        try:
            close(dbapi_connection)
        finally:
            slots.release(dbapi_connection)
    return do_close


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
        pool_keys = {k: overrides.pop(k) for k in list(overrides) if k in rt._FIELDS}
        self.settings = rt.PoolSettings.load(**pool_keys)
        self._extra = overrides
        self._slots = _Slots(max_connections)
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
        rt._register_record(rt.EngineRecord(mask(template), self.settings, asynchronous,
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

    def stats(self) -> dict[str, int]:
        """Engines alive and draining, connections open now and at peak, engines made and disposed."""
        with self._lock:
            return {"engines": len(self._engines), "draining": len(self._draining),
                    "connections": self._slots.used, "peak_connections": self._slots.peak,
                    "created": self.created, "disposed": self.disposed}

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
        kwargs = rt._merge(self.settings.engine_kwargs(url), dict(self._extra))
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
        dialect.do_close = _releasing(dialect.do_close, slots)
        dialect.do_terminate = _releasing(dialect.do_terminate, slots)

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
