"""What a :class:`~poolwarden.runtime.monitor.PoolMonitor` reports: frozen, with units in the names."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["BUCKETS_MS", "Histogram", "HistogramRecorder", "PoolStats"]

# Upper bounds in milliseconds; the last bucket (+Inf) is implicit. From a pooled hit (< 1 ms) to
# a pool timeout (SQLAlchemy's default: 30 s) and the hold times of long jobs.
BUCKETS_MS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                                 30000, 60000, 300000)


@dataclass(frozen=True)
class Histogram:
    """Observations in milliseconds: per-bucket counts (the last one is +Inf), count and sum."""

    bounds_ms: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum_ms: float

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """An upper bound for the ``q`` quantile (the bucket's upper edge); None when empty or in +Inf."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for bound, n in zip(self.bounds_ms, self.counts, strict=False):
            seen += n
            if seen >= rank:
                return bound
        return None


class HistogramRecorder:
    """A histogram being filled (the mutable twin of :class:`Histogram`); the owner holds its lock."""

    __slots__ = ("_counts", "_sum", "count")

    def __init__(self) -> None:
        self._counts = [0] * (len(BUCKETS_MS) + 1)
        self._sum = 0.0
        self.count = 0

    def observe(self, ms: float) -> None:
        self._counts[bisect.bisect_left(BUCKETS_MS, ms)] += 1
        self._sum += ms
        self.count += 1

    def freeze(self) -> Histogram:
        return Histogram(BUCKETS_MS, tuple(self._counts), self.count, self._sum)


@dataclass(frozen=True)
class PoolStats:
    """One pool at one moment (the runtime stats convention: docs/runtime/stats.md).

    Values now: ``size`` (connections open), ``checked_out``, ``idle``, ``overflow`` (beyond the
    pool's base size), ``waiting`` (callers blocked in checkout), ``max`` (None when unbounded),
    ``idle_max`` / ``idle_min`` (the pool's bounds on idle connections, None where it has none)
    and ``utilisation_ratio`` (checked out over max). Counters since :func:`instrument`:
    ``checkouts_total``, ``checkout_timeouts_total``, ``invalidations_total``,
    ``connections_opened_total``, ``leaks_total``, ``idle_in_transaction_total``. Histograms in
    milliseconds: ``checkout_wait_ms``, ``hold_ms``.
    """

    name: str
    library: str
    size: int
    checked_out: int
    idle: int
    overflow: int
    waiting: int
    max: int | None
    idle_max: int | None
    idle_min: int | None
    utilisation_ratio: float | None
    checkouts_total: int
    checkout_timeouts_total: int
    invalidations_total: int
    connections_opened_total: int
    leaks_total: int
    idle_in_transaction_total: int
    checkout_wait_ms: Histogram
    hold_ms: Histogram
