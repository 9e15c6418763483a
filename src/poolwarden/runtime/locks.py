"""One run at a time for periodic jobs: :func:`single_flight`, on PostgreSQL advisory locks.

::

    @app.task
    @single_flight("nightly-invoices", dsn=DATABASE_URL)      # skipped while another run holds it
    def nightly_invoices(): ...

    @single_flight(lambda org_id: f"sync:{org_id}", engine=engine, wait=30)   # or wait up to 30 s
    def sync_org(org_id): ...

    with single_flight("reindex", engine=engine) as acquired:   # the context-manager form
        if acquired:
            ...

The lock is a session-level advisory lock (``pg_try_advisory_lock``) on a connection that stays
*outside* any transaction while the job runs, so it never shows as idle in transaction. It is
released when the job ends, and by the server when that connection closes for any reason: a
worker killed with SIGKILL or OOM cannot leave a stuck lock behind (a Redis lock would stay
until its TTL). Seed 4's overlapping scheduler runs are what this prevents.

Where the lock's connection comes from:

* ``dsn=``: a connection of its own (psycopg 3), closed after the run — the most robust choice;
* ``engine=``: a connection from a SQLAlchemy engine's pool (sync or asyncio), returned after the
  run; if the unlock fails the connection is invalidated so the lock dies with it.

PgBouncer in transaction mode cannot hold session locks: point ``dsn`` at the server directly
(or at a session-mode pool). A skipped run returns None, logs at INFO on ``poolwarden.locks``
naming the holder's backend pid and application_name, and calls ``on_skip(key)`` if given.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

__all__ = ["SingleFlight", "lock_id", "single_flight"]

logger = logging.getLogger("poolwarden.locks")
F = TypeVar("F", bound=Callable[..., Any])
_INT64 = (-(2**63), 2**63 - 1)


def lock_id(key: str | int, namespace: str = "poolwarden") -> int:
    """The 64-bit advisory lock id of ``key``: ints as given, strings by a stable hash (BLAKE2b)."""
    if isinstance(key, bool):
        raise TypeError("a lock key is a str or an int, not a bool")
    if isinstance(key, int):
        if not _INT64[0] <= key <= _INT64[1]:
            raise ValueError(f"an int lock key must fit in 64 bits, got {key}")
        return key
    if not isinstance(key, str) or not key:
        raise TypeError(f"a lock key is a non-empty str or an int, got {key!r}")
    digest = hashlib.blake2b(f"{namespace}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _timeout_ms(wait: bool | float) -> int | None:
    """None: do not wait; 0: wait forever; else milliseconds."""
    if wait is False:
        return None
    if wait is True:
        return 0
    if isinstance(wait, (int, float)) and wait > 0:
        return max(1, int(wait * 1000))
    raise ValueError(f"wait must be True, False or a positive number of seconds, got {wait!r}")


_HOLDER = ("SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
           "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
           "AND ((l.classid::bigint << 32) | l.objid::bigint) = CAST(%s AS bigint) LIMIT 1")


class SingleFlight:
    """What :func:`single_flight` returns: a decorator and a (sync or async) context manager."""

    def __init__(self, key: str | int | Callable[..., str | int], *, engine: Any = None, dsn: str | None = None,
                 wait: bool | float = False, on_skip: Callable[[str | int], None] | None = None,
                 namespace: str = "poolwarden", connect_timeout: int = 5) -> None:
        if (engine is None) == (dsn is None):
            raise ValueError("single_flight needs exactly one of engine= or dsn=")
        if not callable(key):
            lock_id(key, namespace)  # bad keys fail at decoration time
        self.key = key
        self.engine = engine
        self.dsn = dsn
        self.timeout_ms = _timeout_ms(wait)
        self.on_skip = on_skip
        self.namespace = namespace
        self.connect_timeout = connect_timeout  # seconds, for dsn= connections

    # -- decorator ---------------------------------------------------------------------------------
    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def arun(*args: Any, **kwargs: Any) -> Any:
                async with self._alock(self._key(args, kwargs)) as acquired:
                    return await fn(*args, **kwargs) if acquired else None
            return arun  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._lock(self._key(args, kwargs)) as acquired:
                return fn(*args, **kwargs) if acquired else None
        return run  # type: ignore[return-value]

    # -- context managers (fixed keys) ---------------------------------------------------------------
    def __enter__(self) -> bool:
        self._cm = self._lock(self._key((), {}))
        return self._cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)

    async def __aenter__(self) -> bool:
        self._acm = self._alock(self._key((), {}))
        return await self._acm.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        await self._acm.__aexit__(*exc)

    # -- machinery ---------------------------------------------------------------------------------
    def _key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | int:
        key = self.key(*args, **kwargs) if callable(self.key) else self.key
        lock_id(key, self.namespace)
        return key

    def _skipped(self, key: str | int, holder: Any) -> None:
        who = f"backend pid {holder[0]}, application_name {holder[1]!r}" if holder else "holder not visible"
        logger.info("single_flight %r: skipped, another run holds the lock (%s)", key, who)
        if self.on_skip is not None:
            self.on_skip(key)

    @contextlib.contextmanager
    def _lock(self, key: str | int) -> Iterator[bool]:
        ident = lock_id(key, self.namespace)
        with self._sync_connection() as run:
            if not self._acquire(run, ident):
                self._skipped(key, run(_HOLDER, ident))
                yield False
                return
            try:
                yield True
            finally:
                self._release(run, ident)

    def _acquire(self, run: Callable[[str, Any], Any], ident: int) -> bool:
        if self.timeout_ms is None:
            return bool(run("SELECT pg_try_advisory_lock(%s)", ident)[0])
        run("SELECT set_config('lock_timeout', %s, false)", f"{self.timeout_ms}ms")
        try:
            run("SELECT pg_advisory_lock(%s)", ident)
            return True
        except Exception as exc:
            if _sqlstate(exc) == "55P03":  # lock_not_available: waited the whole time
                return False
            raise
        finally:
            run("RESET lock_timeout", None)

    def _release(self, run: Callable[[str, Any], Any], ident: int) -> None:
        released = run("SELECT pg_advisory_unlock(%s)", ident)
        if not released or not released[0]:
            raise RuntimeError(f"single_flight: lock {ident} was not held at the end of the run")

    @contextlib.contextmanager
    def _sync_connection(self) -> Iterator[Callable[[str, Any], Any]]:
        if self.dsn is not None:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True, application_name="poolwarden-single-flight",
                                 connect_timeout=self.connect_timeout) as conn:
                def run_psycopg(sql: str, arg: Any) -> Any:
                    cur = conn.execute(sql, () if arg is None else (arg,))
                    return cur.fetchone() if sql.startswith("SELECT") else None
                yield run_psycopg
            return
        with self.engine.connect() as sa_conn:
            conn = sa_conn.execution_options(isolation_level="AUTOCOMMIT")
            dbapi = conn.connection.driver_connection

            def run(sql: str, arg: Any) -> Any:
                cur = dbapi.cursor()
                try:
                    cur.execute(sql, () if arg is None else (arg,))
                    return cur.fetchone() if sql.startswith("SELECT") else None
                finally:
                    cur.close()
            try:
                yield run
            except BaseException:
                if not _unlocked_cleanly(run):
                    conn.invalidate()  # the lock dies with the connection, never back to the pool
                raise

    @contextlib.asynccontextmanager
    async def _alock(self, key: str | int) -> AsyncIterator[bool]:
        ident = lock_id(key, self.namespace)
        async with self._async_connection() as run:
            if not await self._aacquire(run, ident):
                self._skipped(key, await run(_HOLDER, ident))
                yield False
                return
            try:
                yield True
            finally:
                released = await run("SELECT pg_advisory_unlock(%s)", ident)
                if not released or not released[0]:
                    raise RuntimeError(f"single_flight: lock {ident} was not held at the end of the run")

    async def _aacquire(self, run: Callable[[str, Any], Any], ident: int) -> bool:
        if self.timeout_ms is None:
            return bool((await run("SELECT pg_try_advisory_lock(%s)", ident))[0])
        await run("SELECT set_config('lock_timeout', %s, false)", f"{self.timeout_ms}ms")
        try:
            await run("SELECT pg_advisory_lock(%s)", ident)
            return True
        except Exception as exc:
            if _sqlstate(exc) == "55P03":
                return False
            raise
        finally:
            await run("RESET lock_timeout", None)

    @contextlib.asynccontextmanager
    async def _async_connection(self) -> AsyncIterator[Callable[[str, Any], Any]]:
        if self.dsn is not None:
            import psycopg

            async with await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, application_name="poolwarden-single-flight",
                    connect_timeout=self.connect_timeout) as conn:
                async def run_psycopg(sql: str, arg: Any) -> Any:
                    cur = await conn.execute(sql, () if arg is None else (arg,))
                    return await cur.fetchone() if sql.startswith("SELECT") else None
                yield run_psycopg
            return
        import sqlalchemy

        async with self.engine.connect() as sa_conn:
            conn = await sa_conn.execution_options(isolation_level="AUTOCOMMIT")

            async def run_sa(sql: str, arg: Any) -> Any:
                # SQLAlchemy text() with a bound parameter works for every async driver
                text, params = sql.replace("%s", ":arg"), ({} if arg is None else {"arg": arg})
                result = await conn.execute(sqlalchemy.text(text), params)
                return result.fetchone() if sql.startswith("SELECT") else None
            try:
                yield run_sa
            except BaseException:
                await conn.invalidate()
                raise


def _unlocked_cleanly(run: Callable[[str, Any], Any]) -> bool:
    """After a failed run: is the connection usable and holding no advisory lock of ours?"""
    try:
        row = run("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", None)
    except Exception:
        return False
    return bool(row) and row[0] == 0


def _sqlstate(exc: BaseException) -> str | None:
    from poolwarden.runtime.errors import sqlstate_of

    return sqlstate_of(exc)


def single_flight(key: str | int | Callable[..., str | int], *, engine: Any = None, dsn: str | None = None,
                  wait: bool | float = False, on_skip: Callable[[str | int], None] | None = None,
                  namespace: str = "poolwarden", connect_timeout: int = 5) -> SingleFlight:
    """Run a job only when no other run holds ``key`` (see the module docstring).

    ``key``: a string, a 64-bit int, or a function of the decorated function's arguments.
    ``wait``: False skips at once, True waits for the lock, a number waits that many seconds.
    ``connect_timeout``: seconds for a ``dsn=`` connection (libpq would wait forever).
    Raises ValueError / TypeError for a bad key, ``wait`` or a missing connection source.
    """
    return SingleFlight(key, engine=engine, dsn=dsn, wait=wait, on_skip=on_skip, namespace=namespace,
                        connect_timeout=connect_timeout)
