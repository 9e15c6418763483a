"""What a drill records: the plan, each request, each sample of the server's connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BASELINE", "FAULT", "HONEST_STATUS", "PHASES", "RECOVERY", "ConnSample", "Outcome", "Plan", "Request"]

BASELINE, FAULT, RECOVERY = "baseline", "fault", "recovery"
PHASES = (BASELINE, FAULT, RECOVERY)
#: HTTP statuses below 500 that are honest failures all the same (timeout, too many requests)
HONEST_STATUS = (408, 429)


class Outcome:
    """How a request ended, as the verdict sees it."""

    OK = "ok"  # the same answer as in the baseline
    LIE = "lie"  # a non-failure answer the baseline never gave: a failure laundered into an answer
    HONEST = "honest"  # 5xx / 408 / 429, or a transient database error raised to the caller
    ERROR = "error"  # anything else that failed (the app unreachable, a non-transient exception)
    BASELINE_ANSWER = "answer"  # in the baseline phase: what the app says when all is well


@dataclass(frozen=True)
class Plan:
    """Phases (seconds), load and bounds of one drill."""

    baseline: float = 5.0
    fault: float = 10.0
    recovery: float = 10.0
    concurrency: int = 4
    interval: float = 0.05  # seconds between requests of one worker (pacing)
    timeout: float = 10.0  # per request
    max_requests: int = 20_000

    @property
    def total(self) -> float:
        return self.baseline + self.fault + self.recovery


@dataclass
class Request:
    """One request: when, to which target, in which phase, what came back, how long it took."""

    target: int
    phase: str
    started: float  # seconds since the drill began
    latency_ms: float = 0.0
    status: int | None = None  # HTTP status; None for calls and failures before a status
    error: str | None = None  # exception class name, for failures
    transient: bool = False  # the error is a transient database error (runtime.errors)
    digest: str | None = None  # of the answer's body / return value
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "phase": self.phase, "t": round(self.started, 4),
                "latency_ms": round(self.latency_ms, 3), "status": self.status, "error": self.error,
                "transient": self.transient, "digest": self.digest, "outcome": self.outcome}


@dataclass(frozen=True)
class ConnSample:
    """The server's client backends at one moment, by application_name (the drill's own excluded).

    ``app_backends`` counts those on the drill's database (the app's, as far as the drill can
    tell), ``client_backends`` every client backend on the server but the drill's own (what takes
    the server's connection slots). ``refused`` marks a moment the drill's own sampling connection
    was refused for lack of a free slot: no counts then."""

    t: float
    by_application: dict[str, int] = field(default_factory=dict)
    idle_in_transaction: int = 0
    app_backends: int = 0
    client_backends: int = 0
    refused: bool = False
