"""See what a pool is doing, and which code holds its connections: :func:`instrument`.

::

    monitor = instrument(engine, leak_threshold=30, idle_in_transaction_threshold=5, name="billing")
    monitor.stats()        # PoolStats: size, checked out, waiting, wait/hold histograms (ms) ...
    monitor.held()         # who holds connections right now, from which line
    PoolCollector([monitor])   # prometheus-client collector (the ``exporter`` extra)
    otel_metrics([monitor])    # OpenTelemetry db.client.connection.* metrics (the ``otel`` extra)

A connection held past ``leak_threshold`` seconds is reported once — a ``poolwarden.monitor``
log warning with the file, line and function that checked it out, plus ``on_event`` — and again
when it comes back. A connection inside a transaction on which no statement has run for
``idle_in_transaction_threshold`` seconds is reported the same way: the runtime twin of PW104,
and what seed 2's team could not see. Checking out more than 70% / 90% of the pool's maximum
(``utilisation_thresholds``) is reported when crossed and again when it clears.

Works through each library's own hooks (see ``adapters``): SQLAlchemy engines (sync and
asyncio), psycopg_pool pools (sync and async), asyncpg pools, and Django's native pool (pass
``django.db.connection``, ``connections["default"]`` or ``"default"``; instrument it in each
process, after a fork: see :mod:`poolwarden.runtime.django.fork`). Checkout locations are captured
by walking the live frames (no traceback objects) when a threshold is set: cheap enough to leave
on in production; ``capture_locations`` forces it on or off. Thresholds are checked by one daemon thread per process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from poolwarden.runtime.monitor import adapters
from poolwarden.runtime.monitor.core import Gauges, HeldConnection, MonitorHook, PoolMonitor
from poolwarden.runtime.monitor.events import (
    IDLE_IN_TRANSACTION,
    LEAK,
    LEAK_RETURNED,
    UTILISATION,
    UTILISATION_CLEARED,
    PoolEvent,
)
from poolwarden.runtime.monitor.location import Location
from poolwarden.runtime.monitor.stats import Histogram, PoolStats

__all__ = ["IDLE_IN_TRANSACTION", "LEAK", "LEAK_RETURNED", "UTILISATION", "UTILISATION_CLEARED", "Gauges",
           "HeldConnection", "Histogram", "Location", "MonitorHook", "PoolCollector", "PoolEvent", "PoolMonitor",
           "PoolStats", "instrument", "otel_metrics"]


def instrument(engine_or_pool: Any, *, leak_threshold: float | None = None,
               idle_in_transaction_threshold: float | None = None, name: str | None = None,
               utilisation_thresholds: Sequence[float] = (0.7, 0.9),
               on_event: Callable[[PoolEvent], None] | None = None,
               capture_locations: bool | None = None) -> PoolMonitor:
    """Start monitoring a SQLAlchemy engine (sync or async), psycopg_pool pool, asyncpg pool, or
    Django's native pool (behind a Django connection, or named by its alias).

    Returns the :class:`PoolMonitor`; :meth:`PoolMonitor.close` removes the hooks. Thresholds are
    seconds; None turns a check off. Checkout locations are captured when a threshold is set
    (``capture_locations=None``), or as ``capture_locations`` says. Raises TypeError for anything
    else than the supported pools and ValueError for a threshold that is not a positive number.
    """
    django = adapters.django_pool(engine_or_pool)
    if django is not None:
        engine_or_pool, name = django[0], name or django[1]
    library = adapters.library_of(engine_or_pool)
    target = getattr(engine_or_pool, "sync_engine", engine_or_pool)  # AsyncEngine -> its Engine
    gauges: Callable[[], Gauges]
    tx_state: Callable[[Any], tuple[bool, bool] | None] | None
    attach: Callable[[Any, PoolMonitor], list[Callable[[], None]]]
    if library == "sqlalchemy":
        gauges, tx_state, attach = adapters.sqlalchemy_gauges(target), None, adapters.monitor_sqlalchemy
        default_name = target.url.render_as_string(hide_password=True)
    elif library == "psycopg_pool":
        gauges, tx_state, attach = (adapters.psycopg_pool_gauges(target), adapters.psycopg_tx_state,
                                    adapters.monitor_psycopg_pool)
        default_name = str(target.name)
    else:
        gauges, tx_state, attach = adapters.asyncpg_gauges(target), adapters.asyncpg_tx_state, adapters.monitor_asyncpg
        default_name = f"asyncpg-pool-{id(target):x}"
    if capture_locations is None:
        capture_locations = leak_threshold is not None or idle_in_transaction_threshold is not None
    monitor = PoolMonitor(name or default_name, library, gauges, leak_threshold=leak_threshold,
                          idle_in_transaction_threshold=idle_in_transaction_threshold,
                          utilisation_thresholds=utilisation_thresholds, on_event=on_event,
                          capture_locations=capture_locations, tx_state=tx_state)
    for undo in attach(target, monitor):
        monitor.add_undo(undo)
    return monitor


def __getattr__(name: str) -> Any:
    if name == "PoolCollector":  # prometheus-client is an optional extra: import it only when asked
        from poolwarden.runtime.monitor.prometheus import PoolCollector

        return PoolCollector
    if name == "otel_metrics":  # so is opentelemetry-api (the ``otel`` extra)
        try:
            from poolwarden.runtime.monitor.otel import otel_metrics
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("opentelemetry"):
                raise
            raise ImportError("poolwarden.runtime.monitor.otel_metrics needs opentelemetry-api: "
                              "pip install 'poolwarden[otel]'") from exc
        return otel_metrics
    raise AttributeError(name)
