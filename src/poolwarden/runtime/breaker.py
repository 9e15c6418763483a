"""Fail fast while the database is down: :class:`CircuitBreaker`.

::

    breaker = CircuitBreaker(failure_threshold=5, reset_timeout=1.0)
    breaker.attach(engine, connect_deadline=3.0)   # every new connection goes through it

    @breaker                      # or: with breaker: ... / async with breaker: ... / breaker.call(f)
    def load_subscription(user_id): ...

Closed, it lets calls through and counts consecutive *transient* failures
(:func:`~poolwarden.runtime.errors.is_transient`: refused, dropped, timed out, too many
clients…); an answer from the server — even an error like a unique violation — resets the
count. At ``failure_threshold`` it opens: calls fail at once with :class:`CircuitOpenError`
(a ``ConnectionError``, so ``is_transient`` is true and ``runtime.asgi`` answers 503) instead
of each waiting out a connect or pool timeout. After ``reset_timeout`` seconds one call is let
through as a probe (half-open): success closes the breaker, a transient failure opens it again.

``attach(engine)`` hooks SQLAlchemy's ``do_connect`` (sync and asyncio engines): connecting is
where an outage makes callers wait, and pooled connections that died are re-made through it
(``pool_pre_ping``). With ``connect_deadline`` each connect also gets a total deadline across
all hosts and addresses of the URL (:mod:`poolwarden.runtime.deadline`); a configuration error
(wrong password, missing database …) still reaches the breaker as itself, an answer that resets
the count rather than a failure.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

from poolwarden.runtime.errors import is_transient

__all__ = ["BreakerState", "BreakerStats", "CircuitBreaker", "CircuitOpenError"]


class BreakerState(str, Enum):
    """A breaker's state; a ``str`` (``BreakerState.OPEN == "open"``), so logs and JSON read the value."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
logger = logging.getLogger("poolwarden.breaker")
F = TypeVar("F", bound=Callable[..., Any])


class CircuitOpenError(ConnectionError):
    """The breaker is open: the database failed recently, so this call was not attempted."""

    def __init__(self, name: str, retry_after: float, last_error: BaseException | None) -> None:
        cause = f": {type(last_error).__name__}: {last_error}".rstrip() if last_error else ""
        super().__init__(f"circuit breaker {name!r} is open (retry in {retry_after:.2f} s){cause}")
        self.retry_after = retry_after
        self.last_error = last_error


@dataclass(frozen=True)
class BreakerStats:
    """One breaker at one moment (the runtime stats convention: docs/runtime/stats.md).

    ``state`` and ``consecutive_failures`` are values now; counters since the breaker was made:
    ``calls_total`` (let through), ``failures_total`` (transient failures counted),
    ``rejected_total`` (failed fast while open), ``opened_total`` (times it opened).
    """

    name: str
    state: BreakerState
    consecutive_failures: int
    calls_total: int
    failures_total: int
    rejected_total: int
    opened_total: int


class CircuitBreaker:
    """A thread- and asyncio-safe circuit breaker for database access (see the module docstring)."""

    def __init__(self, *, failure_threshold: int = 5, reset_timeout: float = 1.0, name: str = "database",
                 is_failure: Callable[[BaseException], bool] = is_transient,
                 on_state_change: Callable[[BreakerState, BreakerState], None] | None = None) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f"failure_threshold must be a positive integer, got {failure_threshold!r}")
        if isinstance(reset_timeout, bool) or not isinstance(reset_timeout, (int, float)) or reset_timeout <= 0:
            raise ValueError(f"reset_timeout must be a positive number of seconds, got {reset_timeout!r}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.is_failure = is_failure
        self.on_state_change = on_state_change
        self._lock = threading.Lock()
        self._state: BreakerState = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._last_error: BaseException | None = None
        self._counts = {"calls_total": 0, "failures_total": 0, "rejected_total": 0, "opened_total": 0}

    # -- state -------------------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        """CLOSED, OPEN or HALF_OPEN (open past ``reset_timeout``: the next call probes)."""
        with self._lock:
            if self._state == OPEN and time.monotonic() - self._opened_at >= self.reset_timeout:
                return HALF_OPEN
            return self._state

    def stats(self) -> BreakerStats:
        """The state and counters now."""
        state = self.state
        with self._lock:
            return BreakerStats(self.name, state, self._failures, **self._counts)

    def before_call(self) -> None:
        """Let a call through or raise :class:`CircuitOpenError`; pair with :meth:`success` / :meth:`failure`."""
        with self._lock:
            if self._state == CLOSED:
                self._counts["calls_total"] += 1
                return
            waited = time.monotonic() - self._opened_at
            if self._state == OPEN and waited >= self.reset_timeout:
                self._set(HALF_OPEN)
            if self._state == HALF_OPEN and not self._probing:
                self._probing = True  # this call is the probe; everyone else keeps failing fast
                self._counts["calls_total"] += 1
                return
            self._counts["rejected_total"] += 1
            retry_after = max(0.0, self.reset_timeout - waited)
            last = self._last_error
        raise CircuitOpenError(self.name, retry_after, last)

    def success(self) -> None:
        """The call got an answer from the database."""
        with self._lock:
            self._failures = 0
            self._probing = False
            if self._state != CLOSED:
                self._set(CLOSED)

    def failure(self, exc: BaseException) -> None:
        """The call failed with ``exc``; only transient failures count (others are answers).

        Cancellation, KeyboardInterrupt and the like say nothing about the database: a probe
        interrupted that way only lets the next call probe instead."""
        if not isinstance(exc, Exception):
            with self._lock:
                self._probing = False
            return
        if isinstance(exc, CircuitOpenError):
            return
        if not self.is_failure(exc):
            self.success()
            return
        with self._lock:
            self._counts["failures_total"] += 1
            self._failures += 1
            self._last_error = exc
            probe_failed = self._state == HALF_OPEN
            self._probing = False
            if probe_failed or (self._state == CLOSED and self._failures >= self.failure_threshold):
                self._opened_at = time.monotonic()
                self._counts["opened_total"] += 1
                self._set(OPEN)

    def _set(self, state: BreakerState) -> None:  # called with the lock held
        before, self._state = self._state, state
        if before == state:
            return
        level = logging.WARNING if state == OPEN else logging.INFO
        logger.log(level, "circuit breaker %r: %s -> %s%s", self.name, before, state,
                   f" after {self._failures} consecutive failure(s): {self._last_error}" if state == OPEN else "")
        if self.on_state_change is not None:
            try:
                self.on_state_change(before, state)
            except Exception:
                logger.exception("circuit breaker %r: on_state_change failed", self.name)

    # -- ways to wrap calls ------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.failure(exc)
            raise
        self.success()
        return result

    async def acall(self, fn: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> Any:
        self.before_call()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.failure(exc)
            raise
        self.success()
        return result

    def __call__(self, fn: F) -> F:
        """Decorate a sync or async function."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)
            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(fn, *args, **kwargs)
        return wrapper  # type: ignore[return-value]

    def __enter__(self) -> CircuitBreaker:
        self.before_call()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if e is None:
            self.success()
        else:
            self.failure(e)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(et, e, tb)

    # -- SQLAlchemy ----------------------------------------------------------------------------------
    def attach(self, engine: Any, *, connect_deadline: float | None = None,
               per_attempt: float | None = None) -> Callable[[], None]:
        """Put every new connection of a SQLAlchemy engine (sync or asyncio) behind this breaker.

        Returns a function that detaches it again.
        """
        from sqlalchemy import event

        from poolwarden.runtime import deadline as dl

        sync_engine = getattr(engine, "sync_engine", engine)
        breaker = self

        def do_connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
            breaker.before_call()
            try:
                if connect_deadline is None:
                    conn = dialect.connect(*cargs, **cparams)
                elif getattr(dialect, "is_async", False):
                    conn = _async_connect(dialect, cargs, cparams, connect_deadline, per_attempt)
                else:
                    params = {k: v for k, v in cparams.items() if k != "connect_timeout"}
                    conn = dl.connect_with_deadline(lambda **kw: dialect.loaded_dbapi.connect(*cargs, **kw),
                                                    total=connect_deadline, per_attempt=per_attempt, **params)
            except BaseException as exc:
                breaker.failure(exc)
                raise
            breaker.success()
            return conn

        event.listen(sync_engine, "do_connect", do_connect)

        def detach() -> None:
            if event.contains(sync_engine, "do_connect", do_connect):
                event.remove(sync_engine, "do_connect", do_connect)
        return detach


def _async_connect(dialect: Any, cargs: Any, cparams: dict[str, Any], total: float, per_attempt: float | None) -> Any:
    """Connect an asyncio dialect (asyncpg, psycopg async) with the deadline, from SQLAlchemy's greenlet."""
    from poolwarden.runtime import deadline as dl

    driver = dialect.driver
    params = {k: v for k, v in cparams.items() if k not in ("connect_timeout", "timeout")}
    if driver == "asyncpg":
        import asyncpg

        native: Callable[..., Awaitable[Any]] = asyncpg.connect
        libpq = False
    else:
        import psycopg

        native, libpq = psycopg.AsyncConnection.connect, True
    creator = params.pop("async_creator_fn", native)

    async def connect_one(**kw: Any) -> Any:
        return await creator(*cargs, **kw)

    async def bounded(*_: Any, **kw: Any) -> Any:
        return await dl.aconnect_with_deadline(connect_one, total=total, per_attempt=per_attempt, libpq=libpq, **kw)

    return dialect.loaded_dbapi.connect(async_creator_fn=bounded, **params)
