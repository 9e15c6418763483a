"""What a drill concludes: lies, honest failures, fail-fast latency, recovery, connections returned.

A *lie* is an answer given during the fault or the recovery that is not a failure (HTTP status
below 500 and not 408/429; a callable that returned) and that the baseline never gave for the
same target — with ``compare="body"`` the same status and body, with ``compare="status"`` the
same status. An infrastructure failure laundered into a business answer ("no subscription")
is exactly that. *Honest* failures are 5xx / 408 / 429 answers and transient database errors
raised to the caller. Recovery is the time from the end of the fault to the first answer the
baseline also gave. A baseline that is already failing — answers that disagree, a server at its
connection limit, the app's connections climbing — is a finding (:mod:`poolwarden.drill.health`),
and any finding fails the drill like a lie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poolwarden.drill.health import LIMIT, Finding, examine
from poolwarden.drill.model import BASELINE, FAULT, HONEST_STATUS, PHASES, RECOVERY, Outcome, Request
from poolwarden.drill.runner import RunData

__all__ = ["Verdict", "judge"]



@dataclass
class Verdict:
    counts: dict[str, dict[str, int]]  # phase -> outcome -> n
    lies: int
    fault_p50_ms: float | None
    fault_p99_ms: float | None
    recovery_s: float | None
    connections_before: dict[str, int]
    connections_after: dict[str, int]
    lie_examples: list[dict[str, Any]] = field(default_factory=list)
    baseline_answers: int = 0
    baseline_failures: dict[str, int] = field(default_factory=dict)  # "ConnectionRefusedError" / "HTTP 503" -> n
    findings: list[Finding] = field(default_factory=list)  # the app failing by itself (drill.health)

    @property
    def baseline_succeeded(self) -> bool:
        """Some baseline request got an answer: without one there is nothing to compare with."""
        return self.baseline_answers > 0

    @property
    def inconclusive(self) -> bool:
        """The baseline never succeeded and nothing explains it: the drill measured nothing (exit 2).
        A server at its connection limit during the baseline does explain it: that is a finding."""
        return not self.baseline_succeeded and not any(f.kind == LIMIT for f in self.findings)

    @property
    def baseline_summary(self) -> str:
        """``40 requests, all failed: 38x ConnectionRefusedError, 2x HTTP 503``."""
        total = sum(self.baseline_failures.values())
        parts = ", ".join(f"{n}x {k}" for k, n in sorted(self.baseline_failures.items(), key=lambda kv: -kv[1]))
        return f"{total} request(s), all failed{': ' + parts if parts else ''}" if total else "no request was made"

    @property
    def recovered(self) -> bool:
        return self.recovery_s is not None

    @property
    def connections_returned(self) -> bool:
        return sum(self.connections_after.values()) <= sum(self.connections_before.values())

    @property
    def passed(self) -> bool:
        return self.baseline_succeeded and self.lies == 0 and self.recovered and not self.findings


def _failure(req: Request) -> str | None:
    if req.error is not None:
        return Outcome.HONEST if req.transient else Outcome.ERROR
    if req.status is not None and (req.status >= 500 or req.status in HONEST_STATUS):
        return Outcome.HONEST
    return None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def judge(data: RunData, *, compare: str = "body") -> Verdict:
    """Classify every request (sets ``Request.outcome``) and sum up."""
    def key(r: Request) -> tuple[Any, ...]:
        return (r.target, r.status) if compare == "status" else (r.target, r.status, r.digest)

    known = {key(r) for r in data.requests if r.phase == BASELINE and _failure(r) is None}
    counts = {p: {o: 0 for o in (Outcome.BASELINE_ANSWER, Outcome.OK, Outcome.LIE, Outcome.HONEST,
                                 Outcome.ERROR)} for p in PHASES}
    examples: dict[tuple[Any, ...], dict[str, Any]] = {}
    recovery: float | None = None
    for r in data.requests:
        failed = _failure(r)
        if failed is not None:
            r.outcome = failed
        elif r.phase == BASELINE:
            r.outcome = Outcome.BASELINE_ANSWER
        elif key(r) in known:
            r.outcome = Outcome.OK
        else:
            r.outcome = Outcome.LIE
            if key(r) not in examples and len(examples) < 5:
                status, body = data.answers.get((r.target, r.digest or ""), (r.status, ""))
                examples[key(r)] = {"target": data.targets[r.target], "phase": r.phase, "status": status,
                                    "body": body, "t": round(r.started, 3)}
        counts[r.phase][r.outcome] += 1
        if r.outcome == Outcome.OK and r.started >= data.fault_ended:
            done = r.started + r.latency_ms / 1000.0 - data.fault_ended
            recovery = done if recovery is None else min(recovery, done)
    failures: dict[str, int] = {}
    for r in data.requests:
        if r.phase == BASELINE and _failure(r) is not None:
            kind = r.error or f"HTTP {r.status}"
            failures[kind] = failures.get(kind, 0) + 1
    during = [r.latency_ms for r in data.requests if r.phase == FAULT]
    before = [s for s in data.samples if s.t < data.fault_started]
    return Verdict(
        counts=counts,
        lies=counts[FAULT][Outcome.LIE] + counts[RECOVERY][Outcome.LIE],
        fault_p50_ms=_percentile(during, 0.5), fault_p99_ms=_percentile(during, 0.99),
        recovery_s=recovery,
        connections_before=dict(before[-1].by_application) if before else {},
        connections_after=dict(data.samples[-1].by_application) if data.samples else {},
        lie_examples=list(examples.values()),
        baseline_answers=len(known),
        baseline_failures=failures,
        findings=examine(data, compare=compare),
    )
