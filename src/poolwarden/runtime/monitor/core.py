"""``PoolMonitor``: the library-neutral bookkeeping behind :func:`~poolwarden.runtime.monitor.instrument`.

Adapters (``adapters.py``) translate a pool library's hooks into the adapter calls below
(``begin_checkout`` / ``on_checkout`` / ``on_checkout_failed``, ``on_checkin``, ``on_connect`` …);
everything else — counters, histograms, holds, leak and idle-in-transaction detection,
utilisation thresholds — lives here once. One daemon thread per process (``_Watcher``) scans
every live monitor for holds that crossed a threshold.

Exporters that need each event as it happens (OpenTelemetry's histograms and counters) add a
:class:`MonitorHook` with :meth:`PoolMonitor.add_hook`; with none added, an event costs one
truth test of an empty tuple.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from poolwarden.runtime.monitor import events as ev
from poolwarden.runtime.monitor.events import PoolEvent
from poolwarden.runtime.monitor.location import Location, RawLocation
from poolwarden.runtime.monitor.stats import HistogramRecorder, PoolStats

__all__ = ["Gauges", "HeldConnection", "MonitorHook", "PoolMonitor"]


@dataclass(frozen=True)
class Gauges:
    """What the pool library says about itself right now. ``idle_max`` / ``idle_min``: the most /
    fewest idle connections the pool keeps, where the library has such a bound (else None)."""

    size: int
    idle: int
    overflow: int
    max: int | None
    idle_max: int | None = None
    idle_min: int | None = None


class MonitorHook(Protocol):
    """What :meth:`PoolMonitor.add_hook` calls at each event, in the thread of the event.

    Durations are seconds. A hook must be cheap (it runs inside the application's checkout and
    return); an exception from it is logged once and swallowed.
    :mod:`poolwarden.runtime.monitor.otel` is the one in the package.
    """

    def waited(self, seconds: float) -> None:
        """A checkout got a connection after waiting ``seconds``."""

    def timed_out(self) -> None:
        """A checkout gave up: the pool's timeout passed."""

    def used(self, seconds: float) -> None:
        """A connection came back after being checked out for ``seconds``."""

    def created(self, seconds: float) -> None:
        """The pool opened a new connection, which took ``seconds``."""


@dataclass(frozen=True)
class HeldConnection:
    """A connection checked out right now: for how long, from where, whether in a transaction."""

    held_ms: float
    location: Location | None
    in_transaction: bool | None
    idle_ms: float | None


class _Hold:
    __slots__ = ("conn", "iit_reported", "last_activity", "leak_reported", "raw", "running", "since", "tx_open")

    def __init__(self, since: float, raw: RawLocation | None, conn: Any) -> None:
        self.since = since
        self.raw = raw
        self.conn = conn
        self.tx_open: bool | None = None  # None: this library's transaction state is sampled instead
        self.running = False
        self.last_activity = since
        self.leak_reported = False
        self.iit_reported = False


def _seconds(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class PoolMonitor:
    """Counters, holds and reports for one pool. Made by :func:`instrument`; thread-safe.

    ``leak_threshold`` / ``idle_in_transaction_threshold`` are seconds (None: off). Every event
    goes to the ``poolwarden.monitor`` logger and to ``on_event`` when given; a callback that
    raises is logged and ignored (monitoring never breaks the application).
    """

    def __init__(self, name: str, library: str, gauges: Callable[[], Gauges], *,
                 leak_threshold: float | None = None, idle_in_transaction_threshold: float | None = None,
                 utilisation_thresholds: Sequence[float] = (0.7, 0.9),
                 on_event: Callable[[PoolEvent], None] | None = None, capture_locations: bool = True,
                 tx_state: Callable[[Any], tuple[bool, bool] | None] | None = None) -> None:
        self.name = name
        self.library = library
        self.leak_threshold = _seconds(leak_threshold, "leak_threshold")
        self.idle_in_transaction_threshold = _seconds(idle_in_transaction_threshold,
                                                      "idle_in_transaction_threshold")
        thresholds = sorted(float(t) for t in utilisation_thresholds)
        if any(not 0 < t <= 1 for t in thresholds):
            raise ValueError(f"utilisation thresholds are ratios in (0, 1], got {list(utilisation_thresholds)}")
        self.utilisation_thresholds = tuple(thresholds)
        self.on_event = on_event
        self.capture_locations = capture_locations
        self._gauges = gauges
        self._tx_state = tx_state  # sampled (in_transaction, running) for libraries without tx events
        self._lock = threading.Lock()
        self._holds: dict[int, _Hold] = {}
        self._entered = itertools.count()  # callers that started waiting for a connection ...
        self._left = itertools.count()  # ... and that stopped (waiting = the difference)
        self._counts = {"checkouts_total": 0, "checkout_timeouts_total": 0, "invalidations_total": 0,
                        "connections_opened_total": 0, "leaks_total": 0, "idle_in_transaction_total": 0}
        self._wait = HistogramRecorder()
        self._hold = HistogramRecorder()
        self._crossed = 0  # how many utilisation thresholds are currently crossed
        self._max = gauges().max  # refreshed by stats(); a pool's maximum does not change on its own
        self._up_at: float = math.inf
        self._down_at = -1
        self._levels(0)
        self._detach: list[Callable[[], None]] = []
        self._hooks: tuple[MonitorHook, ...] = ()  # replaced, never mutated: read without the lock
        self._hook_error_logged = False
        self.closed = False
        if self.leak_threshold or self.idle_in_transaction_threshold:
            _watcher().add(self)

    # -- what adapters call: begin_checkout() before a checkout call, then on_checkout() or
    # on_checkout_failed(); on_checkin() when it comes back; on_connect() for each new connection
    def add_undo(self, undo: Callable[[], None]) -> None:
        """Something :meth:`close` runs (last added, first run): how an adapter removes its hooks."""
        self._detach.append(undo)

    def add_hook(self, hook: MonitorHook) -> None:
        """Call ``hook`` at every checkout, timeout, return and new connection from now on."""
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def remove_hook(self, hook: MonitorHook) -> None:
        """Stop calling ``hook`` (no error when it was not added)."""
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)

    def begin_checkout(self) -> float:
        """A caller starts waiting for a connection (lock-free: ``next()`` on a counter is atomic)."""
        next(self._entered)
        return time.perf_counter()

    def on_checkout(self, key: int, started: float, raw: RawLocation | None = None, conn: Any = None,
                    track_transactions: bool = False) -> None:
        """The caller got a connection: one short lock for wait time, hold and counters."""
        waited = time.perf_counter() - started
        ms = waited * 1000.0
        hold = _Hold(time.monotonic(), raw, conn)
        if track_transactions:
            hold.tx_open = False
        with self._lock:
            self._holds[key] = hold
            self._counts["checkouts_total"] += 1
            self._wait.observe(ms)
            out = len(self._holds)
        next(self._left)
        if self._hooks:
            try:
                for h in self._hooks:
                    h.waited(waited)
            except Exception:
                self._hook_failed()
        if out >= self._up_at:
            self._utilisation_moved(out)

    def on_checkout_failed(self, started: float, timed_out: bool) -> None:
        ms = (time.perf_counter() - started) * 1000.0
        with self._lock:
            if timed_out:
                self._counts["checkout_timeouts_total"] += 1
            self._wait.observe(ms)
        next(self._left)
        if timed_out and self._hooks:
            try:
                for h in self._hooks:
                    h.timed_out()
            except Exception:
                self._hook_failed()

    def on_checkin(self, key: int) -> None:
        now = time.monotonic()
        with self._lock:
            hold = self._holds.pop(key, None)
            if hold is None:
                return
            held = now - hold.since
            self._hold.observe(held * 1000.0)
            out = len(self._holds)
        if self._hooks:
            try:
                for h in self._hooks:
                    h.used(held)
            except Exception:
                self._hook_failed()
        if hold.leak_reported:
            self._emit(PoolEvent(ev.LEAK_RETURNED, self.name,
                                 f"pool {self.name!r}: leaked connection returned after {held:.1f} s "
                                 f"(checked out at {self._where(hold)})", held_ms=held * 1000.0,
                                 location=self._location(hold)))
        if out < self._down_at:
            self._utilisation_moved(out)

    def on_invalidate(self) -> None:
        with self._lock:
            self._counts["invalidations_total"] += 1

    def on_connect(self, seconds: float | None = None) -> None:
        """A new connection was opened; ``seconds``: how long that took, when the adapter knows."""
        with self._lock:
            self._counts["connections_opened_total"] += 1
        if seconds is not None and self._hooks:
            try:
                for h in self._hooks:
                    h.created(seconds)
            except Exception:
                self._hook_failed()

    def on_transaction(self, key: int, open_: bool) -> None:
        hold = self._holds.get(key)
        if hold is not None:
            hold.tx_open = open_
            hold.last_activity = time.monotonic()
            hold.iit_reported = hold.iit_reported and open_

    def on_statement(self, key: int, running: bool) -> None:
        hold = self._holds.get(key)
        if hold is not None:
            hold.running = running
            hold.last_activity = time.monotonic()

    def on_activity(self, key: int) -> None:
        """Something ran on the connection checked out under ``key`` (it is not idle)."""
        hold = self._holds.get(key)
        if hold is not None:
            hold.last_activity = time.monotonic()

    # -- public -------------------------------------------------------------------------------
    def stats(self) -> PoolStats:
        """The pool's gauges, counters and histograms now."""
        g = self._gauges()
        with self._lock:
            if g.max != self._max:
                self._max = g.max
                self._levels(self._crossed)
            out = len(self._holds)
            waiting = _value(self._entered) - _value(self._left)
            counts = dict(self._counts)
            wait, hold = self._wait.freeze(), self._hold.freeze()
        return PoolStats(name=self.name, library=self.library, size=g.size, checked_out=out, idle=g.idle,
                         overflow=g.overflow, waiting=waiting, max=g.max, idle_max=g.idle_max,
                         idle_min=g.idle_min, utilisation_ratio=(out / g.max) if g.max else None,
                         checkout_wait_ms=wait, hold_ms=hold, **counts)

    def held(self) -> list[HeldConnection]:
        """The connections checked out right now, longest held first."""
        now = time.monotonic()
        with self._lock:
            holds = list(self._holds.values())
        out = []
        for h in sorted(holds, key=lambda h: h.since):
            state = self._transaction_state(h, now)
            out.append(HeldConnection((now - h.since) * 1000.0, self._location(h),
                                      None if state is None else state[0],
                                      None if state is None else state[1] * 1000.0))
        return out

    def scan(self) -> list[PoolEvent]:
        """Report holds past the thresholds (each once per checkout); the watcher calls this."""
        now = time.monotonic()
        with self._lock:
            holds = list(self._holds.values())
        found: list[PoolEvent] = []
        for h in holds:
            held = now - h.since
            if self.leak_threshold and not h.leak_reported and held >= self.leak_threshold:
                h.leak_reported = True
                with self._lock:
                    self._counts["leaks_total"] += 1
                found.append(PoolEvent(ev.LEAK, self.name,
                                       f"pool {self.name!r}: connection held for {held:.1f} s (leak threshold "
                                       f"{self.leak_threshold:g} s), checked out at {self._where(h)}",
                                       held_ms=held * 1000.0, location=self._location(h)))
            if self.idle_in_transaction_threshold and not h.iit_reported:
                state = self._transaction_state(h, now)
                if state is not None and state[0] and state[1] >= self.idle_in_transaction_threshold:
                    h.iit_reported = True
                    with self._lock:
                        self._counts["idle_in_transaction_total"] += 1
                    found.append(PoolEvent(
                        ev.IDLE_IN_TRANSACTION, self.name,
                        f"pool {self.name!r}: connection idle in transaction for {state[1]:.1f} s "
                        f"(threshold {self.idle_in_transaction_threshold:g} s), checked out at {self._where(h)}",
                        held_ms=held * 1000.0, idle_ms=state[1] * 1000.0, location=self._location(h)))
        for event in found:
            self._emit(event)
        return found

    def close(self) -> None:
        """Remove the hooks from the pool; the monitor keeps its last numbers."""
        for undo in reversed(self._detach):
            undo()
        self._detach.clear()
        self.closed = True
        self._hooks = ()
        _watcher().discard(self)

    # -- internals ------------------------------------------------------------------------------
    def _transaction_state(self, h: _Hold, now: float) -> tuple[bool, float] | None:
        """(in a transaction and idle, idle seconds) for a hold, or None when unknown."""
        if h.tx_open is not None:  # tracked by events
            return (h.tx_open and not h.running, now - h.last_activity)
        if self._tx_state is None or h.conn is None:
            return None
        try:
            sampled = self._tx_state(h.conn)
        except Exception:  # a closed or broken connection: nothing to say
            return None
        if sampled is None:
            return None
        in_tx, running = sampled
        if running or not in_tx:
            h.last_activity = now
            return (False, 0.0)
        return (True, now - h.last_activity)

    def _location(self, h: _Hold) -> Location | None:
        return h.raw.resolve() if h.raw is not None else None

    def _where(self, h: _Hold) -> str:
        loc = self._location(h)
        return str(loc) if loc is not None else "<location capture off>"

    def _levels(self, crossed: int) -> None:
        """Checked-out counts at which the next threshold is crossed (up) or the current one left (down)."""
        top = self._max or 0
        counts = [math.ceil(t * top - 1e-9) for t in self.utilisation_thresholds]
        self._up_at = counts[crossed] if top and crossed < len(counts) else math.inf
        self._down_at = counts[crossed - 1] if top and crossed > 0 else -1

    def _utilisation_moved(self, out: int) -> None:
        g_max = self._max
        if not g_max:
            return
        ratio = out / g_max
        with self._lock:
            crossed = sum(1 for t in self.utilisation_thresholds if ratio >= t)
            before, self._crossed = self._crossed, crossed
            self._levels(crossed)
        if crossed > before:
            t = self.utilisation_thresholds[crossed - 1]
            self._emit(PoolEvent(ev.UTILISATION, self.name,
                                 f"pool {self.name!r}: {ratio:.0%} of {g_max} connections checked out "
                                 f"(threshold {t:.0%})", utilisation=ratio, threshold=t))
        elif crossed == 0 and before > 0:
            self._emit(PoolEvent(ev.UTILISATION_CLEARED, self.name,
                                 f"pool {self.name!r}: back to {ratio:.0%} of {g_max} connections checked out",
                                 utilisation=ratio, threshold=self.utilisation_thresholds[0]))

    def _hook_failed(self) -> None:
        """A hook raised: logged once per monitor, never passed on (monitoring never breaks the application)."""
        if not self._hook_error_logged:
            self._hook_error_logged = True
            ev.logger.exception("poolwarden monitor: a hook of pool %r failed (logged once)", self.name)

    def _emit(self, event: PoolEvent) -> None:
        event.log()
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                ev.logger.exception("poolwarden monitor: on_event callback failed for %s", event.kind)


def _value(counter: itertools.count[int]) -> int:
    """The next value of an ``itertools.count`` without advancing it."""
    return int(repr(counter)[6:-1])


class _Watcher:
    """One daemon thread per process scanning every monitor with a threshold; restarted after fork."""

    def __init__(self) -> None:
        self._monitors: weakref.WeakSet[PoolMonitor] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0
        self._thread: threading.Thread | None = None

    def add(self, monitor: PoolMonitor) -> None:
        with self._lock:
            self._monitors.add(monitor)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="poolwarden-monitor", daemon=True)
                self._thread.start()
        self._wake.set()

    def discard(self, monitor: PoolMonitor) -> None:
        with self._lock:
            self._monitors.discard(monitor)

    def _interval(self) -> float:
        thresholds = [t for m in list(self._monitors)
                      for t in (m.leak_threshold, m.idle_in_transaction_threshold) if t]
        # a quarter of the smallest threshold: a report comes at most 25% late; between 10 ms and 1 s
        return min(1.0, max(0.01, min(thresholds, default=1.0) / 4))

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval())
            self._wake.clear()
            for monitor in list(self._monitors):
                try:
                    monitor.scan()
                except Exception:  # never let one pool's trouble stop the watcher
                    ev.logger.exception("poolwarden monitor: scan of %r failed", monitor.name)


_WATCHER: _Watcher | None = None
_WATCHER_LOCK = threading.Lock()


def _watcher() -> _Watcher:
    global _WATCHER
    with _WATCHER_LOCK:
        if _WATCHER is None:
            _WATCHER = _Watcher()
        return _WATCHER
