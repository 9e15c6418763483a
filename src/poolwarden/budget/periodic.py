"""The periodic jobs' connection demand over a day, computed rather than simulated run by run.

A job that starts every ``p`` seconds (at ``offset + k·p`` for every integer ``k``: a run
started before midnight still runs after it) and runs ``d`` seconds has, at any instant ``t``,
``n(t) = q + [ (t - offset) mod p < r ]`` runs going, where ``q = ⌊d / p⌋`` and ``r = d - q·p``:
``q`` runs overlap always, one more during the first ``r`` seconds of every period. So

- the **average** over the day is exact arithmetic per job (the measure of the "one more" part
  of the day), whatever ``p`` and ``d``;
- the **peak** is ``Σ cᵢ·qᵢ`` plus the largest sum of the "one more" parts that coincide. Those
  parts are placed on the day one interval per period (a merge of per-job streams: memory grows
  with the number of jobs, not of runs) while the day holds at most ``max_runs`` of them in
  total; past that bound the peak is the upper bound ``Σ cᵢ·⌈dᵢ / pᵢ⌉`` (every job at its most
  at once), reported with ``exact = False`` — never less than the truth. When every job starts
  at 00:00 (offset 0, the default) that bound is reached at 00:00 and is exact.

On the inputs the run-by-run simulation could handle, the result is the same (a property test
compares them); on any other finite input the work is bounded by ``max_runs`` and the number of
jobs.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

from poolwarden.budget.model import Periodic

DAY = 86_400.0
#: "one more run" intervals placed on the day, in total over all jobs, before the peak is bounded instead
MAX_RUNS = 200_000


@dataclass(frozen=True)
class PeriodicPeak:
    connections: int  # most connections the jobs hold at once (an upper bound when not exact)
    at_seconds: float  # first time of day it happens
    jobs: tuple[str, ...]  # the jobs running then
    average: float  # mean connections held over the day
    exact: bool = True  # False: too many runs in a day to place them; ``connections`` is Σ c·⌈d/p⌉


@dataclass(frozen=True)
class _Shape:
    """One job reduced to its arithmetic: ``q`` runs always, one more for ``r`` seconds of every ``p``."""

    index: int
    p: float
    r: float
    q: int
    phase: float  # offset reduced into [0, p)
    c: int


def _shape(index: int, job: Periodic) -> _Shape:
    try:
        p, d, o = float(job.every), float(job.duration), float(job.offset)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"periodic job {job.name!r}: every, duration and offset must be numbers of seconds") from None
    if not (math.isfinite(p) and p > 0):
        raise ValueError(f"periodic job {job.name!r}: every must be a finite number of seconds > 0, not {p!r}")
    if not (math.isfinite(d) and d >= 0):
        raise ValueError(f"periodic job {job.name!r}: duration must be a finite number of seconds ≥ 0, not {d!r}")
    if not math.isfinite(o):
        raise ValueError(f"periodic job {job.name!r}: offset must be a finite number of seconds, not {o!r}")
    if job.connections < 1:
        raise ValueError(f"periodic job {job.name!r}: connections must be ≥ 1, not {job.connections!r}")
    if not math.isfinite(d / p):
        raise ValueError(f"periodic job {job.name!r}: duration / every overflows ({d!r} / {p!r})")
    r = math.fmod(d, p)  # exact, in [0, p)
    q = round((d - r) / p)
    phase = o % p
    return _Shape(index, p, r, q, phase if phase < p else 0.0, job.connections)


def _on_measure(shape: _Shape, until: float) -> float:
    """Seconds of [0, until) — measured from the phase origin — during which the extra run goes."""
    ratio = until / shape.p
    if not abs(ratio) < 1e15:  # periods far below a second's precision: the proportion is the answer
        return until * (shape.r / shape.p)
    periods = math.floor(ratio)
    return periods * shape.r + min(until - periods * shape.p, shape.r)


def _extra_runs(shape: _Shape) -> float:
    """About how many "one more run" intervals meet [0, DAY) (at most two too many)."""
    if shape.r <= 0:
        return 0.0
    return (DAY + shape.r) / shape.p + 2


def _events(shape: _Shape) -> Iterator[tuple[float, int, int]]:
    """(time, -1 end / +1 start, job index) of the extra-run intervals inside [0, DAY), in order."""
    p, r, o = shape.p, shape.r, shape.phase
    k = math.floor((-o - r) / p)
    while True:
        start = o + k * p
        if start >= DAY:
            return
        end = start + r
        if end > 0:
            yield (max(start, 0.0), 1, shape.index)
            yield (min(end, DAY), -1, shape.index)
        k += 1


def periodic_peak(jobs: tuple[Periodic, ...], *, max_runs: int = MAX_RUNS) -> PeriodicPeak:
    """The jobs' peak and average connections over one day (see the module's docstring).

    Raises ValueError for a job whose numbers are not finite or not positive (the config and the
    code scan never hand such a job over)."""
    if not jobs:
        return PeriodicPeak(0, 0.0, (), 0.0)
    shapes = [_shape(i, job) for i, job in enumerate(jobs)]
    average = sum(s.c * (s.q * DAY + _on_measure(s, DAY - s.phase) - _on_measure(s, -s.phase))
                  for s in shapes) / DAY
    base = sum(s.c * s.q for s in shapes)
    always = {s.index for s in shapes if s.q > 0}
    partial = [s for s in shapes if s.r > 0]
    names = [job.name for job in jobs]
    if sum(_extra_runs(s) for s in partial) > max_runs:
        bound = base + sum(s.c for s in partial)
        at_midnight = all(s.phase == 0 for s in partial)  # everyone's extra run starts at 00:00
        running = always | {s.index for s in partial}
        return PeriodicPeak(bound, 0.0, tuple(names[i] for i in sorted(running)), average, exact=at_midnight)
    extra: dict[int, int] = {}
    current = base
    peak, peak_at = 0, 0.0
    peak_jobs: tuple[str, ...] = ()
    if base > 0:  # the always-running runs started before midnight: they "start" at 00:00
        peak, peak_jobs = base, tuple(names[i] for i in sorted(always))
    stream = heapq.merge(*(_events(s) for s in partial))
    pending: tuple[float, int, int] | None = next(stream, None)
    while pending is not None:
        time, started = pending[0], False
        while pending is not None and pending[0] == time:  # one instant: ends first, then starts
            _, kind, index = pending
            extra[index] = extra.get(index, 0) + kind
            current += kind * jobs[index].connections
            started = started or kind == 1
            pending = next(stream, None)
        if started and current > peak:
            peak, peak_at = current, time
            peak_jobs = tuple(names[i] for i in sorted(always | {i for i, n in extra.items() if n > 0}))
    return PeriodicPeak(peak, peak_at, peak_jobs, average)
