"""The engine registry's process-wide connection cap: a counting semaphore that sync threads and
asyncio tasks (inside SQLAlchemy's greenlet) can wait on, and whose count follows the real DBAPI
connections (a slot is held by the connection object itself until it is closed or collected)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any

__all__ = ["Slots", "releasing"]

_RECHECK = 0.05  # seconds between looks for idle connections to close while at the cap


class Slots:
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


def releasing(close: Callable[[Any], None], slots: Slots) -> Callable[[Any], None]:
    """``close`` (a dialect's ``do_close`` / ``do_terminate``) that gives the connection's slot back
    once it returns or raises (SQLAlchemy discards a connection whose close failed)."""
    def do_close(dbapi_connection: Any) -> None:
        try:
            close(dbapi_connection)
        finally:
            slots.release(dbapi_connection)
    return do_close
