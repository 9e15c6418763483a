"""Pool monitors as Prometheus metrics (prometheus-client, the ``exporter`` extra).

Names carry units and share the ``poolwarden_`` vocabulary of ``doctor`` / ``exporter``
(``..._utilisation_ratio``, ``..._idle_in_transaction...``); every series has a ``pool`` label.
Histograms are in seconds, as Prometheus expects, from the monitor's millisecond buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from poolwarden.runtime.monitor.core import PoolMonitor

__all__ = ["PoolCollector"]

_GAUGES = (
    ("poolwarden_pool_connections_open", "Connections the pool has open.", "size"),
    ("poolwarden_pool_connections_checked_out", "Connections checked out of the pool.", "checked_out"),
    ("poolwarden_pool_connections_idle", "Connections idle in the pool.", "idle"),
    ("poolwarden_pool_connections_overflow", "Connections open beyond the pool's base size.", "overflow"),
    ("poolwarden_pool_clients_waiting", "Callers waiting for a connection.", "waiting"),
    ("poolwarden_pool_connections_max", "The pool's maximum (absent when unbounded).", "max"),
    ("poolwarden_pool_utilisation_ratio", "Checked out over maximum.", "utilisation_ratio"),
)
_COUNTERS = (
    ("poolwarden_pool_checkouts", "Connections handed out.", "checkouts_total"),
    ("poolwarden_pool_checkout_timeouts", "Checkouts that gave up waiting.", "checkout_timeouts_total"),
    ("poolwarden_pool_invalidations", "Connections invalidated (broken or stale).", "invalidations_total"),
    ("poolwarden_pool_connections_opened", "New server connections opened.", "connections_opened_total"),
    ("poolwarden_pool_leaks", "Connections held past the leak threshold.", "leaks_total"),
    ("poolwarden_pool_idle_in_transaction", "Holders idle in a transaction past the threshold.",
     "idle_in_transaction_total"),
)


class PoolCollector:
    """A prometheus-client collector over monitors: ``REGISTRY.register(PoolCollector([m1, m2]))``."""

    def __init__(self, monitors: Iterable[PoolMonitor]) -> None:
        self.monitors = list(monitors)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        stats = [m.stats() for m in self.monitors]
        for metric, doc, attr in _GAUGES:
            family = GaugeMetricFamily(metric, doc, labels=["pool"])
            for s in stats:
                value = getattr(s, attr)
                if value is not None:
                    family.add_metric([s.name], float(value))
            yield family
        for metric, doc, attr in _COUNTERS:
            counter = CounterMetricFamily(metric, doc, labels=["pool"])
            for s in stats:
                counter.add_metric([s.name], float(getattr(s, attr)))
            yield counter
        for metric, doc, attr in (
            ("poolwarden_pool_checkout_wait_seconds", "Time spent waiting for a connection.", "checkout_wait_ms"),
            ("poolwarden_pool_hold_seconds", "Time a connection stayed checked out.", "hold_ms"),
        ):
            family_h = HistogramMetricFamily(metric, doc, labels=["pool"])
            for s in stats:
                h = getattr(s, attr)
                cumulative, buckets = 0, []
                for bound, n in zip((*h.bounds_ms, float("inf")), h.counts, strict=True):
                    cumulative += n
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound / 1000.0), cumulative))
                family_h.add_metric([s.name], buckets, sum_value=h.sum_ms / 1000.0)
            yield family_h
