"""Pool monitors as OpenTelemetry's database client connection metrics (the ``otel`` extra).

``otel_metrics([monitor, ...])`` reports, through ``opentelemetry-api`` (the application's
``MeterProvider``, or the one passed), the ``db.client.connection.*`` instruments of OpenTelemetry's
semantic conventions for database client metrics (status Development), every measurement with
``db.client.connection.pool.name`` = the monitor's name:

* observed at collection (UpDownCounters): ``db.client.connection.count`` (``{connection}``:
  ``checked_out`` with ``db.client.connection.state="used"``, ``idle`` with ``"idle"``),
  ``db.client.connection.max``, ``.idle.max``, ``.idle.min`` (``{connection}``; omitted for a
  pool without such a bound) and ``db.client.connection.pending_requests`` (``{request}``:
  ``waiting``);
* recorded at the event: ``db.client.connection.timeouts`` (Counter, ``{timeout}``) and the
  Histograms ``db.client.connection.create_time``, ``.wait_time``, ``.use_time`` (``s``).

The observable instruments read :meth:`PoolMonitor.stats` when the SDK collects; the counter and
the histograms are recorded at the event through a :class:`~poolwarden.runtime.monitor.core.MonitorHook`
(attributes built once per pool, instruments bound once). The conventions advise no bucket
boundaries for the three histograms; poolwarden advises the monitor's own (:data:`BUCKETS_SECONDS`,
the ``PoolCollector`` histograms' bounds), which the SDK uses unless a View says otherwise.

Pool names should be unique in the process (the conventions say so): two monitors of one name
collide (their points carry the same attributes). With the global provider, call
:func:`otel_metrics` once the application's SDK is set up (or pass ``meter_provider``).
docs/runtime/monitor.md has what each pool library can say, and the names the Prometheus
exporter renders.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from poolwarden.runtime.monitor.core import PoolMonitor
from poolwarden.runtime.monitor.stats import BUCKETS_MS, PoolStats

__all__ = ["BUCKETS_SECONDS", "POOL_NAME", "STATE", "OtelMetrics", "otel_metrics"]

POOL_NAME = "db.client.connection.pool.name"
STATE = "db.client.connection.state"
BUCKETS_SECONDS: tuple[float, ...] = tuple(b / 1000.0 for b in BUCKETS_MS)
METER_NAME = "poolwarden.runtime.monitor"


class _Hook:
    """One pool's event recorder: its attributes and the instruments' bound ``record`` / ``add``."""

    __slots__ = ("_add_timeout", "_attrs", "_create", "_use", "_wait")

    def __init__(self, name: str, wait: Any, use: Any, create: Any, timeouts: Any) -> None:
        self._attrs = {POOL_NAME: name}
        self._wait, self._use, self._create, self._add_timeout = wait.record, use.record, create.record, timeouts.add

    def waited(self, seconds: float) -> None:
        self._wait(seconds, self._attrs)

    def timed_out(self) -> None:
        self._add_timeout(1, self._attrs)

    def used(self, seconds: float) -> None:
        self._use(seconds, self._attrs)

    def created(self, seconds: float) -> None:
        self._create(seconds, self._attrs)


class _Instruments:
    """The nine instruments of one meter provider, shared by every :func:`otel_metrics` on it.

    OpenTelemetry keeps the first registration of an instrument name in a meter (a second one gets
    the first instrument back, its callbacks dropped): so the observable callbacks read the
    monitors of every open handle on this provider.
    """

    def __init__(self, meter_provider: Any) -> None:
        from poolwarden import __version__

        self.handles: tuple[OtelMetrics, ...] = ()  # replaced, never mutated: read without the lock
        meter = metrics.get_meter(METER_NAME, __version__, meter_provider=meter_provider)
        self.wait = meter.create_histogram(
            "db.client.connection.wait_time", unit="s",
            description="The time it took to obtain an open connection from the pool",
            explicit_bucket_boundaries_advisory=BUCKETS_SECONDS)
        self.use = meter.create_histogram(
            "db.client.connection.use_time", unit="s",
            description="The time between borrowing a connection and returning it to the pool",
            explicit_bucket_boundaries_advisory=BUCKETS_SECONDS)
        self.create = meter.create_histogram(
            "db.client.connection.create_time", unit="s", description="The time it took to create a new connection",
            explicit_bucket_boundaries_advisory=BUCKETS_SECONDS)
        self.timeouts = meter.create_counter(
            "db.client.connection.timeouts", unit="{timeout}",
            description="The number of connection timeouts that have occurred trying to obtain a connection "
                        "from the pool")
        meter.create_observable_up_down_counter(
            "db.client.connection.count", [self._count], unit="{connection}",
            description="The number of connections that are currently in state described by the state attribute")
        for name, attr, unit, doc in (
            ("db.client.connection.max", "max", "{connection}", "The maximum number of open connections allowed"),
            ("db.client.connection.idle.max", "idle_max", "{connection}",
             "The maximum number of idle open connections allowed"),
            ("db.client.connection.idle.min", "idle_min", "{connection}",
             "The minimum number of idle open connections allowed"),
            ("db.client.connection.pending_requests", "waiting", "{request}",
             "The number of current pending requests for an open connection"),
        ):
            meter.create_observable_up_down_counter(name, [self._gauge(attr)], unit=unit, description=doc)

    def hook(self, monitor: PoolMonitor) -> _Hook:
        return _Hook(monitor.name, self.wait, self.use, self.create, self.timeouts)

    def _stats(self) -> list[PoolStats]:
        return [m.stats() for handle in self.handles for m in handle.monitors]

    def _count(self, options: CallbackOptions) -> Iterator[Observation]:
        for s in self._stats():
            yield Observation(s.checked_out, {POOL_NAME: s.name, STATE: "used"})
            yield Observation(s.idle, {POOL_NAME: s.name, STATE: "idle"})

    def _gauge(self, attr: str) -> Any:
        def observe(options: CallbackOptions) -> Iterator[Observation]:
            for s in self._stats():
                value = getattr(s, attr)
                if value is not None:  # the pool has no such bound: nothing, rather than a made-up number
                    yield Observation(value, {POOL_NAME: s.name})
        return observe


_BY_PROVIDER: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _instruments(meter_provider: Any) -> _Instruments:
    """This provider's instruments (the global provider's when None), made on first use."""
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    with _LOCK:
        try:
            found = _BY_PROVIDER.get(provider)
        except TypeError:  # a provider that cannot be weakly referenced: instruments of its own
            return _Instruments(provider)
        if found is None:
            found = _BY_PROVIDER[provider] = _Instruments(provider)
        return found


class OtelMetrics:
    """The handle :func:`otel_metrics` returns; :meth:`close` stops every measurement of its monitors.

    OpenTelemetry's API cannot unregister an instrument: after ``close()`` the observable ones
    report nothing for these monitors and the hooks are gone from them.
    """

    def __init__(self, monitors: Iterable[PoolMonitor], meter_provider: Any = None) -> None:
        self.monitors = list(monitors)
        self.closed = False
        self._instruments = _instruments(meter_provider)
        self._hooks = [(m, self._instruments.hook(m)) for m in self.monitors]
        for monitor, hook in self._hooks:
            monitor.add_hook(hook)
        with _LOCK:
            self._instruments.handles = (*self._instruments.handles, self)

    def close(self) -> None:
        """Remove the hooks from the monitors; the observable instruments stop reporting them."""
        self.closed = True
        with _LOCK:
            self._instruments.handles = tuple(h for h in self._instruments.handles if h is not self)
        for monitor, hook in self._hooks:
            monitor.remove_hook(hook)


def otel_metrics(monitors: Iterable[PoolMonitor], *, meter_provider: Any = None) -> OtelMetrics:
    """Report the monitors' pools as OpenTelemetry ``db.client.connection.*`` metrics.

    ``meter_provider``: an OpenTelemetry ``MeterProvider`` (default: the global one, set by the
    application or its auto-instrumentation; without an SDK the API's no-op provider makes this
    free). Returns the handle whose ``close()`` stops it.
    """
    return OtelMetrics(monitors, meter_provider)
