"""Running a drill: load the targets through baseline → fault → recovery while sampling the server.

:func:`run` is bounded in time (the plan's phases plus one request timeout) and in requests
(``max_requests``), and releases everything it opened — fault connections, the sampler's
connection, worker threads — on every way out, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from poolwarden.drill.faults import DRILL_APP, Fault
from poolwarden.drill.model import BASELINE, FAULT, RECOVERY, ConnSample, Plan, Request
from poolwarden.drill.targets import Target, digest
from poolwarden.dsn import mask, one_line, scrub
from poolwarden.runtime.errors import is_transient

__all__ = ["RunData", "run"]

SAMPLE_EVERY = 0.25  # seconds between pg_stat_activity samples


@dataclass
class RunData:
    """Everything observed: requests, connection samples, answers seen, phase boundaries."""

    plan: Plan
    targets: list[str]
    faults: list[str]
    requests: list[Request] = field(default_factory=list)
    samples: list[ConnSample] = field(default_factory=list)
    answers: dict[tuple[int, str], tuple[int | None, str]] = field(default_factory=dict)  # (target, digest)
    fault_started: float = 0.0
    fault_ended: float = 0.0
    # When every fault was in force (``fault.start()`` returned): a request sent between
    # ``fault_started`` and this may not have met the fault yet.
    fault_active: float = 0.0
    ended: float = 0.0
    interrupted: bool = False
    fault_errors: list[str] = field(default_factory=list)
    # The server's limit, read once by the sampler: max_connections, and the slots of it kept for
    # superusers (superuser_reserved_connections) and for pg_use_reserved_connections (PG 16+).
    max_connections: int | None = None
    reserved_connections: int | None = None


# Client backends; a row another role's backend hides from an unprivileged sampler (no
# backend_type) counts when it is on a database, since it takes a connection slot all the same.
_SAMPLE = ("SELECT coalesce(nullif(application_name, ''), '(none)'), state, backend_type = 'client backend', "
           "datname IS NOT DISTINCT FROM current_database(), count(*) FROM pg_stat_activity "
           "WHERE pid <> pg_backend_pid() AND (backend_type = 'client backend' OR "
           "(backend_type IS NULL AND datid IS NOT NULL)) GROUP BY 1, 2, 3, 4")
_LIMITS = ("SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int "
           "+ coalesce(current_setting('reserved_connections', true), '0')::int")


class _Sampler:
    """One connection of its own, sampling client backends by application_name.

    A connect the server refuses for lack of a free slot ("too many clients") is not an error:
    it is recorded as a refused sample, and the sampler tries again at the next tick."""

    def __init__(self, dsn: str, t0: float, out: list[ConnSample]) -> None:
        self.dsn, self.t0, self.out = dsn, t0, out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="poolwarden-drill-sampler", daemon=True)
        self._conn: object | None = None
        self.error: str | None = None  # why sampling stopped early, if it did
        self.limits: tuple[int, int] | None = None  # (max_connections, reserved slots), read once

    def start(self) -> None:
        if self._connect():
            self.sample()
        self._thread.start()

    def _connect(self) -> bool:
        """Open the sampling connection; False (a refused sample recorded) when the server is full."""
        import psycopg

        from poolwarden.testing.saturate import is_refusal

        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                   application_name=f"{DRILL_APP}-sampler")
        except psycopg.OperationalError as exc:
            if not is_refusal(exc):
                raise
            self.out.append(ConnSample(time.monotonic() - self.t0, refused=True))
            return False
        self._conn = conn
        if self.limits is None:
            row = conn.execute(_LIMITS).fetchone()
            if row is not None:
                self.limits = (int(row[0]), int(row[1]))
        return True

    def sample(self) -> None:
        conn = self._conn
        if conn is None:
            return
        rows = conn.execute(_SAMPLE).fetchall()  # type: ignore[attr-defined]
        by_app: dict[str, int] = {}
        idle_tx = in_db = clients = 0
        for app, state, client, here, n in rows:
            if app.startswith(DRILL_APP):
                continue
            clients += n
            in_db += n if here else 0
            if client:
                by_app[app] = by_app.get(app, 0) + n
                if state and state.startswith("idle in transaction"):
                    idle_tx += n
        self.out.append(ConnSample(time.monotonic() - self.t0, by_app, idle_tx, app_backends=in_db,
                                   client_backends=clients))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                if self._conn is None:
                    self._connect()
                else:
                    self.sample()
            except Exception as exc:  # reported in self.error: the timeline ends here
                self.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.sample()  # the state after the drill let go of everything
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()  # type: ignore[attr-defined]


def run(targets: Sequence[Target], plan: Plan, faults: Sequence[Fault], sample_dsn: str | None,
        *, progress: Callable[[str], None] | None = None) -> RunData:
    """Drive ``targets`` through the plan's phases, injecting ``faults`` during the fault phase."""
    data = RunData(plan, [t.label for t in targets], [f.name for f in faults])
    t0 = time.monotonic()
    stop = threading.Event()
    lock = threading.Lock()
    data.fault_started = plan.baseline
    data.fault_ended = plan.baseline + plan.fault

    def phase(t: float) -> str:
        return BASELINE if t < data.fault_started else FAULT if t < data.fault_ended else RECOVERY

    def worker(n: int) -> None:
        k = n
        while not stop.is_set():
            with lock:
                if len(data.requests) >= plan.max_requests:
                    return
                req = Request(target=k % len(targets), phase="", started=time.monotonic() - t0)
                req.phase = phase(req.started)
                data.requests.append(req)
            k += 1
            began = time.perf_counter()
            try:
                status, body = targets[req.target](plan.timeout)
                req.status = status
                req.digest = digest(body)
                key = (req.target, req.digest)
                if key not in data.answers:
                    # what the app said, for the report: a DSN in it (a debug page) is masked
                    data.answers[key] = (status, mask(body[:4096].decode("utf-8", "replace"))[:300])
            except Exception as exc:
                req.error = type(exc).__name__
                req.transient = is_transient(exc)
            req.latency_ms = (time.perf_counter() - began) * 1000.0
            pause = plan.interval - req.latency_ms / 1000.0
            if pause > 0:
                stop.wait(pause)  # pacing: one request per interval and worker

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    sampler = _Sampler(sample_dsn, t0, data.samples) if sample_dsn else None
    workers = [threading.Thread(target=worker, args=(n,), name=f"poolwarden-drill-{n}", daemon=True)
               for n in range(plan.concurrency)]
    started: list[Fault] = []
    try:
        if sampler is not None:
            sampler.start()
        for w in workers:
            w.start()
        say(f"baseline: {plan.baseline:g} s")
        _sleep_until(t0 + data.fault_started)
        say(f"fault: {', '.join(data.faults)} for {plan.fault:g} s")
        for fault in faults:
            started.append(fault)
            fault.start()
        data.fault_active = time.monotonic() - t0
        _sleep_until(t0 + data.fault_ended)
        _stop_all(started, data, sample_dsn)
        say(f"recovery: {plan.recovery:g} s")
        _sleep_until(t0 + plan.total)
    except KeyboardInterrupt:
        data.interrupted = True
    finally:
        _stop_all(started, data, sample_dsn)
        stop.set()
        for w in workers:
            if w.ident is not None:  # started
                w.join(timeout=plan.timeout + 1)
        data.ended = time.monotonic() - t0
        if sampler is not None:
            sampler.stop()
            if sampler.limits is not None:
                data.max_connections, data.reserved_connections = sampler.limits
            if sampler.error:
                data.fault_errors.append(f"sampling stopped early: {_clean(sampler.error, sample_dsn)}")
    return data


def _clean(message: str, dsn: str | None) -> str:
    """A driver's message fit for the report: one line, no password of ``dsn``'s (nor any other)."""
    return one_line(scrub(message, dsn) if dsn else mask(message))


def _stop_all(started: list[Fault], data: RunData, dsn: str | None) -> None:
    while started:
        fault = started.pop()
        try:
            fault.stop()
        except Exception as exc:  # keep releasing the others
            data.fault_errors.append(f"{fault.name}: {type(exc).__name__}: {_clean(str(exc), dsn)}")


def _sleep_until(deadline: float) -> None:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))  # the drill's own clock: phases last as long as planned
