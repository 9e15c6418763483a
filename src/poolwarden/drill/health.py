"""Is the app already failing without any fault? Three checks on what a drill recorded.

A drill judges the fault by comparing with the baseline, so a baseline that is already failing
makes the verdict meaningless: a lie the app tells by itself counts as a baseline answer, and
drill would pass it. :func:`examine` returns a :class:`Finding` for each of these, and any
finding fails the drill (exit 1):

``baseline-disagrees``
    A target (one request, sent identically every time: the same method, URL, headers and body,
    or the same callable called without arguments) got more than one result in the baseline.
    A result is the answer compared the way the verdict compares (status and body with
    ``compare="body"``, status alone with ``compare="status"``) or the failure (``HTTP 503``, an
    exception's class). Only baseline requests that *ended* before the fault started count: one
    still in flight when the fault begins may meet it.
``server-at-limit``
    During the baseline the server had no free slot for an ordinary role: in some sample, the
    client backends that are not the drill's own numbered at least ``max_connections`` minus the
    reserved slots (``superuser_reserved_connections``, plus ``reserved_connections`` on
    PostgreSQL 16+) — or the drill's own sampling connection was refused for lack of a slot.
``connections-climb``
    The app's connections (client backends on the drill's database that the drill did not open)
    climb in both phases without a fault. Each phase is read at three boundaries: its first
    sample, the last sample at or before halfway between its first and its last, and its last
    sample (the recovery's last is taken after the drill stopped sending). A phase climbs when the
    three readings never go down, still go up in the phase's second half (a pool has finished
    warming up by then, a leak has not), and rise from first to last by more than twice the
    drill's concurrency (each request in flight may hold a connection, and one more that is just
    closing). Both phases are needed: a
    fault that ends the app's connections (saturation, terminate, outage, partition) resets the
    count, so a pool refilling in the recovery alone is not a leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poolwarden.drill.model import BASELINE, HONEST_STATUS, RECOVERY, ConnSample, Request
from poolwarden.drill.runner import RunData

__all__ = ["CLIMB", "DISAGREES", "LIMIT", "Finding", "examine"]

DISAGREES, LIMIT, CLIMB = "baseline-disagrees", "server-at-limit", "connections-climb"
_MEANING = "the baseline is already failing: drill cannot tell the fault's effect from the app's own failure"


@dataclass(frozen=True)
class Finding:
    """Something wrong before or apart from the fault: ``kind``, one line saying what was seen and
    what it means, and the numbers behind it (in JSON as they are)."""

    kind: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, **self.detail}


def examine(data: RunData, *, compare: str = "body") -> list[Finding]:
    """Every finding of the three checks (module docstring), in that order."""
    found = disagreements(data, compare=compare)
    limit = at_limit(data)
    if limit is not None:
        found.append(limit)
    climb = climbing(data)
    if climb is not None:
        found.append(climb)
    return found


def _result(r: Request, compare: str) -> tuple[Any, ...]:
    """What a request came back with, as the disagreement check compares it."""
    if r.error is not None:
        return ("failure", r.error)
    if r.status is not None and (r.status >= 500 or r.status in HONEST_STATUS):
        return ("failure", f"HTTP {r.status}")
    return ("answer", r.status) if compare == "status" else ("answer", r.status, r.digest)


def _describe(data: RunData, target: int, result: tuple[Any, ...], example: Request, count: int) -> dict[str, Any]:
    """One result for the report: ``{"count", "failure"}`` or ``{"count", "status", "body"}``."""
    if result[0] == "failure":
        return {"count": count, "failure": str(result[1])}
    _, body = data.answers.get((target, example.digest or ""), (example.status, ""))
    return {"count": count, "status": example.status, "body": body}


def _line(seen: dict[str, Any]) -> str:
    if "failure" in seen:
        return f"{seen['count']}x {seen['failure']}"
    status = "" if seen["status"] is None else f"{seen['status']} "
    return f"{seen['count']}x {status}{seen['body'][:80]!r}"


def disagreements(data: RunData, *, compare: str = "body") -> list[Finding]:
    """One finding per target whose baseline results (ended before the fault) are not all alike."""
    per_target: dict[int, dict[tuple[Any, ...], list[Request]]] = {}
    for r in data.requests:
        if r.phase == BASELINE and r.started + r.latency_ms / 1000.0 < data.fault_started:
            per_target.setdefault(r.target, {}).setdefault(_result(r, compare), []).append(r)
    found = []
    for target, results in sorted(per_target.items()):
        if len(results) < 2:
            continue
        ranked = sorted(results.items(), key=lambda kv: -len(kv[1]))
        seen = [_describe(data, target, res, reqs[0], len(reqs)) for res, reqs in ranked]
        total = sum(s["count"] for s in seen)
        listed = ", ".join(map(_line, seen[:4])) + (", …" if len(seen) > 4 else "")
        answers = [res for res in results if res[0] == "answer"]
        hint = ""
        if compare == "body" and len({res[1] for res in answers}) < len(answers):
            hint = " (if this answer changes by itself — a timestamp, a counter — use --compare status)"
        found.append(Finding(DISAGREES, (
            f"baseline disagrees: {data.targets[target]} got {len(seen)} different results to the same request "
            f"in {total} baseline request(s): {listed} — {_MEANING}{hint}"),
            {"target": data.targets[target], "requests": total, "results": seen}))
    return found


def at_limit(data: RunData) -> Finding | None:
    """A finding when the server had no free slot for an ordinary role during the baseline."""
    baseline = [s for s in data.samples if s.t < data.fault_started]
    refused = [s for s in baseline if s.refused]
    counted = [s for s in baseline if not s.refused]
    full: list[ConnSample] = []
    slots = None
    if data.max_connections is not None and data.reserved_connections is not None:
        slots = max(0, data.max_connections - data.reserved_connections)
        full = [s for s in counted if s.client_backends >= slots]
    if not full and not refused:
        return None
    seen = []
    if full:
        peak = max(s.client_backends for s in full)
        seen.append(f"{peak} client connection(s) (the drill's own not counted) on {slots} slot(s) open to "
                    f"ordinary roles (max_connections {data.max_connections} − {data.reserved_connections} "
                    f"reserved) in {len(full)} of {len(counted)} sample(s)")
    if refused:
        seen.append(f"the drill's own connection refused {len(refused)} time(s) for lack of a free slot")
    return Finding(LIMIT, (
        f"server at its connection limit during the baseline: {'; '.join(seen)} — no fault was injected yet, "
        f"and a new connection of a role without reserved slots was already refused: {_MEANING}"),
        {"max_connections": data.max_connections, "reserved_connections": data.reserved_connections,
         "slots": slots, "peak": max((s.client_backends for s in counted), default=None),
         "samples_at_limit": len(full), "samples": len(counted), "refused": len(refused)})


def _readings(samples: list[ConnSample], start: float, end: float) -> tuple[int, int, int] | None:
    """The app's backends at a phase's first sample, the last sample at or before halfway between
    its first and its last, and its last sample; None with fewer than three samples."""
    inside = [s for s in samples if start <= s.t < end and not s.refused]
    if len(inside) < 3:
        return None
    middle = (inside[0].t + inside[-1].t) / 2
    mid = [s for s in inside if s.t <= middle][-1]
    return inside[0].app_backends, mid.app_backends, inside[-1].app_backends


def _climbs(readings: tuple[int, int, int] | None, margin: int) -> bool:
    if readings is None:
        return False
    first, mid, last = readings
    return first <= mid < last and last - first > margin


def climbing(data: RunData) -> Finding | None:
    """A finding when the app's connections climb in the baseline and again in the recovery."""
    margin = 2 * data.plan.concurrency
    base = _readings(data.samples, 0.0, data.fault_started)
    rec = _readings(data.samples, data.fault_ended, float("inf"))
    if not (_climbs(base, margin) and _climbs(rec, margin)):
        return None
    assert base is not None and rec is not None
    return Finding(CLIMB, (
        f"the app's connections climb without a fault: {' → '.join(map(str, base))} in the baseline, "
        f"{' → '.join(map(str, rec))} in the recovery (first, middle, last sample of each; more than "
        f"{margin}, twice the concurrency, gained in each) — the app opens connections and does not give them "
        f"back: left running, it fills the server by itself and fails without any fault"),
        {"baseline": list(base), "recovery": list(rec), "margin": margin, "phases": [BASELINE, RECOVERY]})
