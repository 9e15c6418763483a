"""Hooking a :class:`PoolMonitor` onto a pool library: SQLAlchemy, psycopg_pool, asyncpg.

* SQLAlchemy (sync and asyncio engines): checkouts are seen by wrapping the engine's
  ``raw_connection`` on the instance (the one call every checkout through the engine makes, and
  it survives ``engine.dispose()``); pool events ``checkin``, ``connect``, ``invalidate``; and,
  only for idle-in-transaction detection, connection events (``begin``, ``commit``,
  ``rollback``, cursor execution: they take SQLAlchemy off its no-event fast path). A new
  connection's create time runs from the record's ``starttime`` (stamped just before the
  connect) to the ``connect`` event.
* psycopg_pool (``ConnectionPool`` / ``AsyncConnectionPool``): ``getconn`` / ``putconn`` wrapped
  on the instance (``connection()`` goes through them); sizes from ``get_stats()``; statements
  seen through the connection's ``cursor_factory`` while it is checked out; new connections
  (and their create time) through the pool's ``_connect``, wrapped on the instance.
* Django (5.1+): its native pool is a psycopg_pool ``ConnectionPool``; :func:`django_pool` finds
  it behind ``django.db.connection``, ``connections[alias]`` or an alias name. Django hands
  connections back through ``conn._pool.putconn``, the same pool instance, so the wrappers see it.
* asyncpg pools: the pool's class is swapped for a subclass that times ``acquire`` and sees
  ``release`` and ``_get_new_connection`` (new connections, timed); statements through
  ``add_query_logger``.

Each function returns the undo callables that :meth:`PoolMonitor.close` runs.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable
from typing import Any

from poolwarden.runtime.monitor.core import Gauges, PoolMonitor
from poolwarden.runtime.monitor.location import capture

__all__ = ["django_pool", "library_of", "monitor_asyncpg", "monitor_psycopg_pool", "monitor_sqlalchemy"]

def library_of(target: Any) -> str:
    """'sqlalchemy', 'psycopg_pool' or 'asyncpg' for a supported pool or engine; raises TypeError otherwise."""
    for cls in type(target).__mro__:
        root = cls.__module__.partition(".")[0]
        if root == "sqlalchemy" and cls.__name__ in ("Engine", "AsyncEngine"):
            return "sqlalchemy"
        if root == "psycopg_pool" and cls.__name__ in ("ConnectionPool", "AsyncConnectionPool", "NullConnectionPool",
                                                       "AsyncNullConnectionPool"):
            return "psycopg_pool"
        if root == "asyncpg" and cls.__name__ == "Pool":
            return "asyncpg"
    raise TypeError(f"instrument() takes a SQLAlchemy engine, a psycopg_pool pool, an asyncpg pool or a Django "
                    f"connection with a native pool, not {type(target).__module__}.{type(target).__qualname__}")


def django_pool(target: Any) -> tuple[Any, str] | None:
    """The native pool behind a Django connection (``django.db.connection``, ``connections[alias]``)
    or a Django alias name, and the monitor's default name for it (``django:<alias>``); None when
    ``target`` is no Django connection (nor a string while Django's ORM is loaded). Raises
    TypeError for an unknown alias and for a connection without a native pool (``OPTIONS["pool"]``);
    the pool is Django's own (created if it was not yet), so checkouts through the ORM are seen."""
    if isinstance(target, str):
        import sys

        if "django.db" not in sys.modules:
            return None
        from django.conf import settings  # type: ignore[import-untyped, unused-ignore]
        from django.db import connections  # type: ignore[import-untyped, unused-ignore]

        if not settings.configured:  # no aliases to look in: the string is just not a pool
            return None

        if target not in list(connections):
            raise TypeError(f"instrument(): {target!r} is not one of Django's database aliases "
                            f"({', '.join(map(repr, connections)) or 'none'})")
        target = connections[target]
    elif not (hasattr(target, "settings_dict") and hasattr(target, "alias")):  # a DatabaseWrapper, or its proxy
        return None
    pool = getattr(target, "pool", None)
    if pool is None:
        raise TypeError(f"instrument(): Django's database {target.alias!r} has no native pool: set "
                        f"DATABASES[{target.alias!r}]['OPTIONS']['pool'] (Django 5.1+, psycopg 3), or instrument "
                        f"the pool you use")
    return pool, f"django:{target.alias}"


# -- SQLAlchemy ----------------------------------------------------------------------------------------
def sqlalchemy_gauges(engine: Any) -> Callable[[], Gauges]:
    def gauges() -> Gauges:
        pool = engine.pool
        max_overflow = getattr(pool, "_max_overflow", None)
        if hasattr(pool, "overflow") and isinstance(max_overflow, int):  # QueuePool and its async twin
            base, over = pool.size(), pool.overflow()
            # a connection returned while pool_size sit idle is closed: pool_size bounds the idle ones
            return Gauges(size=base + over, idle=pool.checkedin(), overflow=max(0, over),
                          max=base + max_overflow if max_overflow >= 0 else None, idle_max=base)
        out = pool.checkedout() if hasattr(pool, "checkedout") else 0
        return Gauges(size=out, idle=0, overflow=0, max=None)  # NullPool & co.: no bound in the process
    return gauges


def monitor_sqlalchemy(engine: Any, monitor: PoolMonitor) -> list[Callable[[], None]]:
    from sqlalchemy import event
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    original = engine.raw_connection  # every Connection checks out through it; it outlives dispose()
    locate = monitor.capture_locations
    track = monitor.idle_in_transaction_threshold is not None
    begin, checked_out, failed = monitor.begin_checkout, monitor.on_checkout, monitor.on_checkout_failed

    def raw_connection() -> Any:
        raw = capture() if locate else None  # here the caller is a few frames up
        started = begin()
        try:
            conn = original()
        except BaseException as exc:
            failed(started, isinstance(exc, PoolTimeoutError))
            raise
        # the pool entry's info dict is shared by its checkouts: its id keys the hold (see checkin)
        checked_out(id(conn.info), started, raw, None, track)
        return conn

    engine.raw_connection = raw_connection

    def on_checkin(dbapi_conn: Any, record: Any) -> None:
        monitor.on_checkin(id(record.info))

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        # the record stamps ``starttime`` just before the pool calls its creator (the connect)
        started = getattr(record, "starttime", None)
        monitor.on_connect(max(0.0, time.time() - started) if isinstance(started, float) else None)

    def on_invalidate(dbapi_conn: Any, record: Any, exc: Any) -> None:
        monitor.on_invalidate()

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("checkin", on_checkin), ("connect", on_connect),
        ("invalidate", on_invalidate), ("soft_invalidate", on_invalidate),
    ]  # pool events only: a connection-event listener would slow every statement (SQLAlchemy's fast path)
    if track:
        def key_of(conn: Any) -> int | None:
            try:
                return id(conn.connection.info)  # the pool entry's info dict, as in raw_connection()
            except Exception:
                return None

        def tx(open_: bool) -> Callable[..., None]:
            def handler(conn: Any, *args: Any) -> None:
                key = key_of(conn)
                if key is not None:
                    monitor.on_transaction(key, open_)
            return handler

        def statement(running: bool) -> Callable[..., None]:
            def handler(conn: Any, *args: Any) -> None:
                key = key_of(conn)
                if key is not None:
                    monitor.on_statement(key, running)
            return handler

        def on_error(context: Any) -> None:
            conn = context.connection
            key = key_of(conn) if conn is not None else None
            if key is not None:
                monitor.on_statement(key, False)

        listeners += [("begin", tx(True)), ("commit", tx(False)), ("rollback", tx(False)),
                      ("before_cursor_execute", statement(True)), ("after_cursor_execute", statement(False)),
                      ("handle_error", on_error)]
    for name, fn in listeners:
        event.listen(engine, name, fn)

    def undo() -> None:
        for name, fn in listeners:
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)
        engine.__dict__.pop("raw_connection", None)

    return [undo]


# -- psycopg_pool --------------------------------------------------------------------------------------
def psycopg_pool_gauges(pool: Any) -> Callable[[], Gauges]:
    def gauges() -> Gauges:
        s = pool.get_stats()
        size, idle = s.get("pool_size", 0), s.get("pool_available", 0)
        return Gauges(size=size, idle=idle, overflow=max(0, size - s.get("pool_min", 0)), max=s.get("pool_max"))
    return gauges


def psycopg_tx_state(conn: Any) -> tuple[bool, bool] | None:
    status = int(conn.info.transaction_status)  # IDLE 0, ACTIVE 1, INTRANS 2, INERROR 3, UNKNOWN 4
    if status == 4:
        return None
    return (status in (1, 2, 3), status == 1)


_TRACKED: dict[type, type] = {}


def _tracked_cursor(factory: type, asynchronous: bool) -> type:
    """A subclass of the connection's cursor class that reports each statement to the monitor."""
    known = _TRACKED.get(factory)
    if known is not None:
        return known
    if asynchronous:
        async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            note = getattr(self.connection, "_poolwarden_note", None)
            if note is not None:
                note(True)
            try:
                return await factory.execute(self, *args, **kwargs)  # type: ignore[attr-defined]
            finally:
                if note is not None:
                    note(False)
    else:
        def execute(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            note = getattr(self.connection, "_poolwarden_note", None)
            if note is not None:
                note(True)
            try:
                return factory.execute(self, *args, **kwargs)  # type: ignore[attr-defined]
            finally:
                if note is not None:
                    note(False)
    tracked = type(factory.__name__, (factory,), {"execute": execute, "__module__": __name__})
    _TRACKED[factory] = tracked
    return tracked


def monitor_psycopg_pool(pool: Any, monitor: PoolMonitor) -> list[Callable[[], None]]:
    from psycopg_pool import PoolTimeout

    asynchronous = inspect.iscoroutinefunction(pool.getconn)
    getconn, putconn = pool.getconn, pool.putconn
    track = monitor.idle_in_transaction_threshold is not None

    def checked_out(conn: Any, started: float, raw: Any) -> None:
        key = id(conn)
        monitor.on_checkout(key, started, raw, conn)
        if track:
            conn._poolwarden_factory = conn.cursor_factory
            conn.cursor_factory = _tracked_cursor(conn.cursor_factory, asynchronous)
            conn._poolwarden_note = lambda running: monitor.on_statement(key, running)

    def returning(conn: Any) -> None:
        if track and hasattr(conn, "_poolwarden_factory"):
            conn.cursor_factory = conn._poolwarden_factory
            del conn._poolwarden_factory, conn._poolwarden_note
        monitor.on_checkin(id(conn))

    locate = monitor.capture_locations
    if asynchronous:
        async def agetconn(timeout: float | None = None) -> Any:
            raw = capture() if locate else None
            started = monitor.begin_checkout()
            try:
                conn = await getconn(timeout)
            except BaseException as exc:
                monitor.on_checkout_failed(started, isinstance(exc, PoolTimeout))
                raise
            checked_out(conn, started, raw)
            return conn

        async def aputconn(conn: Any) -> None:
            returning(conn)
            await putconn(conn)

        pool.getconn, pool.putconn = agetconn, aputconn
    else:
        def sgetconn(timeout: float | None = None) -> Any:
            raw = capture() if locate else None
            started = monitor.begin_checkout()
            try:
                conn = getconn(timeout)
            except BaseException as exc:
                monitor.on_checkout_failed(started, isinstance(exc, PoolTimeout))
                raise
            checked_out(conn, started, raw)
            return conn

        def sputconn(conn: Any) -> None:
            returning(conn)
            putconn(conn)

        pool.getconn, pool.putconn = sgetconn, sputconn

    connect = getattr(pool, "_connect", None)  # psycopg_pool's one step that opens a connection
    if connect is not None and asynchronous:
        async def aconnect(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            conn = await connect(*args, **kwargs)
            monitor.on_connect(time.perf_counter() - started)
            return conn

        pool._connect = aconnect
    elif connect is not None:
        def sconnect(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            conn = connect(*args, **kwargs)
            monitor.on_connect(time.perf_counter() - started)
            return conn

        pool._connect = sconnect

    def undo() -> None:
        for name in ("getconn", "putconn", "_connect"):
            pool.__dict__.pop(name, None)

    return [undo]


# -- asyncpg ---------------------------------------------------------------------------------------------
def asyncpg_gauges(pool: Any) -> Callable[[], Gauges]:
    def gauges() -> Gauges:
        size, idle = pool.get_size(), pool.get_idle_size()
        return Gauges(size=size, idle=idle, overflow=max(0, size - pool.get_min_size()), max=pool.get_max_size())
    return gauges


def asyncpg_tx_state(proxy: Any) -> tuple[bool, bool] | None:
    if proxy.is_closed():
        return None
    section = getattr(proxy, "_stmt_exclusive_section", None)
    return (proxy.is_in_transaction(), bool(getattr(section, "_acquired", False)))


def monitor_asyncpg(pool: Any, monitor: PoolMonitor) -> list[Callable[[], None]]:
    import asyncio

    base = type(pool)
    track = monitor.idle_in_transaction_threshold is not None
    loggers: dict[int, Callable[[Any], None]] = {}

    class InstrumentedPool(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        async def _acquire(self, timeout: float | None) -> Any:
            raw = capture() if monitor.capture_locations else None
            started = monitor.begin_checkout()
            try:
                proxy = await super()._acquire(timeout)
            except BaseException as exc:
                monitor.on_checkout_failed(started, isinstance(exc, (asyncio.TimeoutError, TimeoutError)))
                raise
            key = id(proxy)
            monitor.on_checkout(key, started, raw, proxy)
            if track:
                def note(_record: Any, key: int = key) -> None:
                    monitor.on_activity(key)
                loggers[key] = note
                proxy.add_query_logger(note)
            return proxy

        async def _get_new_connection(self) -> Any:  # every connection the pool opens
            started = time.perf_counter()
            conn = await super()._get_new_connection()
            monitor.on_connect(time.perf_counter() - started)
            return conn

        async def release(self, connection: Any, *, timeout: float | None = None) -> None:
            key = id(connection)
            note = loggers.pop(key, None)
            if note is not None:
                with contextlib.suppress(Exception):  # already released or closed: asyncpg says so below
                    connection.remove_query_logger(note)
            monitor.on_checkin(key)
            await super().release(connection, timeout=timeout)

    InstrumentedPool.__name__ = InstrumentedPool.__qualname__ = base.__name__
    pool.__class__ = InstrumentedPool

    def undo() -> None:
        pool.__class__ = base

    return [undo]
