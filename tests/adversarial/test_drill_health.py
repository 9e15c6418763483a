"""drill's baseline checks (poolwarden.drill.health) under generated recordings and hostile answers.

The three checks read what a drill recorded — requests and samples of the server — so most of
this suite generates recordings (no server needed) and holds each check to its rule as
docs/drill.md states it: the findings it must report, the ones it must not (samples from the
fault phase, requests still in flight when the fault began, a pool that stops growing), and the
reports staying one line per finding. The last test sends hostile answers (markup, newlines, a
DSN with a password, megabytes) through the real runner. Generated inputs: at most ``EXAMPLES``
per generator (hypothesis, derandomized); ``RAN`` counts those thrown (656 in the last run).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.drill.health import CLIMB, DISAGREES, LIMIT, examine
from poolwarden.drill.model import BASELINE, FAULT, ConnSample, Plan, Request
from poolwarden.drill.report import render_html, render_json, render_text
from poolwarden.drill.runner import RunData, run
from poolwarden.drill.targets import CallTarget, digest
from poolwarden.drill.verdict import judge

from .contract import SECRETS, assert_no_secret, thrown

EXAMPLES = {"disagree": 200, "limit": 150, "climb": 200, "fault_phase": 100, "hostile": 6}
RAN = thrown("drill-health")
GENERATED = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
PLAN = Plan(baseline=4.0, fault=2.0, recovery=4.0, concurrency=2)
HOSTILE = ["pro", "free", "<script>alert(1)</script>", "line\nbreak", "nul\0byte", '{"b": 1, "a": 2}',
           '{"a": 2, "b": 1}', "postgresql://app:hunter2@db/app", "x" * 5000, "é\udcff"[:1]]


def _data(requests: Sequence[Request] = (), samples: Sequence[ConnSample] = (), **server: int) -> RunData:
    """A recording of a drill with ``PLAN``'s phases, three targets, and the server's limit."""
    data = RunData(PLAN, ["GET http://127.0.0.1:1/a", "shop:plan", "GET http://127.0.0.1:1/c"], ["saturation"],
                   requests=list(requests), samples=list(samples))
    data.fault_started, data.fault_ended = PLAN.baseline, PLAN.baseline + PLAN.fault
    data.ended = PLAN.total
    data.max_connections = server.get("max_connections")
    data.reserved_connections = server.get("reserved")
    return data


def _body(index: int) -> bytes:
    return HOSTILE[index].encode("utf-8", "surrogatepass")


def _assert_reports(data: RunData, compare: str = "body") -> dict[str, Any]:
    """Every finding is one line of the text, in the JSON as a finding, an escaped item of the HTML."""
    verdict = judge(data, compare=compare)
    text, report, page = render_text(data, verdict), json.loads(render_json(data, verdict)), render_html(data, verdict)
    for finding in verdict.findings:
        assert "\n" not in finding.message and "\0" not in finding.message
        assert f"  {finding.message}" in text.splitlines()
    assert [f["kind"] for f in report["findings"]] == [f.kind for f in verdict.findings]
    assert page.count('<li class="finding"') == len(verdict.findings) and "<script>alert" not in page
    assert report["passed"] is verdict.passed and not (verdict.passed and verdict.findings)
    return report


results = st.one_of(
    st.tuples(st.sampled_from([200, 201, 402, 404, 500, 503, 429, 408]), st.integers(0, len(HOSTILE) - 1)),
    st.sampled_from(["OperationalError", "ConnectionRefusedError", "TimeoutError"]))


def _request(target: int, result: Any, started: float, latency_ms: float) -> Request:
    r = Request(target=target, phase=BASELINE if started < PLAN.baseline else FAULT, started=started,
                latency_ms=latency_ms)
    if isinstance(result, str):
        r.error = result
    else:  # the digest the runner records: the body's, JSON with its keys sorted
        r.status, r.digest = result[0], digest(_body(result[1]))
    return r


def _expected(result: Any, compare: str) -> tuple[Any, ...]:
    """The rule as docs/drill.md states it, written out independently of health._result."""
    if isinstance(result, str):
        return ("failed", result)
    status, body = result
    if status >= 500 or status in (408, 429):
        return ("failed", status)
    canonical = json.dumps(json.loads(HOSTILE[body]), sort_keys=True) if HOSTILE[body].startswith("{") else body
    return (status,) if compare == "status" else (status, canonical)


@settings(GENERATED, max_examples=EXAMPLES["disagree"])
@given(clean=st.lists(st.tuples(st.integers(0, 2), results), max_size=12),
       in_flight=st.lists(st.tuples(st.integers(0, 2), results), max_size=4),
       compare=st.sampled_from(["body", "status"]))
def test_disagreement_is_more_than_one_result_per_target(clean: list[Any], in_flight: list[Any], compare: str) -> None:
    """Reported for exactly the targets whose requests ended in the baseline came back more than one
    way; requests still in flight when the fault started never count."""
    RAN["disagree"] += 1
    requests = [_request(t, res, 0.1 * i, 5.0) for i, (t, res) in enumerate(clean)]
    requests += [_request(t, res, PLAN.baseline - 0.01, 500.0) for t, res in in_flight]
    data = _data(requests)
    for (t, res), r in zip(clean + in_flight, requests, strict=True):
        if r.digest is not None:
            data.answers.setdefault((t, r.digest), (r.status, HOSTILE[res[1]]))
    found = [f for f in examine(data, compare=compare) if f.kind == DISAGREES]
    expected = {t for t in range(3) if len({_expected(res, compare) for tt, res in clean if tt == t}) > 1}
    assert {data.targets.index(f.detail["target"]) for f in found} == expected
    for f in found:
        assert f.detail["requests"] == sum(1 for t, _ in clean if data.targets[t] == f.detail["target"])
        assert sum(r["count"] for r in f.detail["results"]) == f.detail["requests"]
    _assert_reports(data, compare)


@settings(GENERATED, max_examples=EXAMPLES["limit"])
@given(counts=st.lists(st.tuples(st.integers(0, 45), st.booleans()), min_size=1, max_size=12),
       later=st.lists(st.integers(0, 60), max_size=6), max_connections=st.integers(1, 40), reserved=st.integers(0, 5))
def test_limit_is_a_baseline_sample_without_a_free_ordinary_slot(counts: list[tuple[int, bool]], later: list[int],
                                                                 max_connections: int, reserved: int) -> None:
    RAN["limit"] += 1
    samples = [ConnSample(0.3 * i, client_backends=0 if refused else n, refused=refused)
               for i, (n, refused) in enumerate(counts)]
    samples += [ConnSample(PLAN.baseline + 0.1 * i, client_backends=n) for i, n in enumerate(later)]  # the fault's
    data = _data(samples=samples, max_connections=max_connections, reserved=reserved)
    slots = max(0, max_connections - reserved)
    expected = any(refused or n >= slots for n, refused in counts)
    found = [f for f in examine(data) if f.kind == LIMIT]
    assert bool(found) == expected
    if found:
        d = found[0].detail
        assert d["refused"] == sum(r for _, r in counts) and d["slots"] == slots
        assert d["samples_at_limit"] == sum(1 for n, r in counts if not r and n >= slots)
    _assert_reports(data)


def _phase(start: float, end: float, values: list[int]) -> list[ConnSample]:
    step = (end - start) / len(values)
    return [ConnSample(start + step * i, app_backends=v) for i, v in enumerate(values)]


counts = st.lists(st.integers(0, 40), min_size=3, max_size=12)


@settings(GENERATED, max_examples=EXAMPLES["climb"])
@given(base=counts, fault=st.lists(st.integers(0, 40), max_size=6), rec=counts, shift=st.integers(0, 30))
def test_climb_rule(base: list[int], fault: list[int], rec: list[int], shift: int) -> None:
    """The rule: in the baseline and in the recovery, the first, middle and last readings never go
    down, the last is above the middle, and the rise is more than twice the concurrency. The fault's
    samples and a constant number of other connections (``shift``) change nothing."""
    RAN["climb"] += 1

    def readings(values: list[int], start: float, end: float) -> tuple[int, int, int]:
        times = [start + (end - start) / len(values) * i for i in range(len(values))]
        middle = start + (times[-1] - start) / 2
        return values[0], [v for v, t in zip(values, times, strict=True) if t <= middle][-1], values[-1]

    def climbs(r: tuple[int, int, int]) -> bool:
        return r[0] <= r[1] < r[2] and r[2] - r[0] > 2 * PLAN.concurrency

    samples = _phase(0.0, PLAN.baseline, base) + _phase(PLAN.baseline, PLAN.baseline + PLAN.fault, fault or [0])
    samples += _phase(PLAN.baseline + PLAN.fault, PLAN.total, rec)
    found = [f for f in examine(_data(samples=samples)) if f.kind == CLIMB]
    expected = climbs(readings(base, 0.0, PLAN.baseline)) and climbs(readings(rec, PLAN.baseline + PLAN.fault,
                                                                                 PLAN.total))
    assert bool(found) == expected
    shifted = [ConnSample(s.t, app_backends=s.app_backends + shift) for s in samples]
    assert bool([f for f in examine(_data(samples=shifted)) if f.kind == CLIMB]) == expected
    if found:
        assert found[0].detail["baseline"] == list(readings(base, 0.0, PLAN.baseline))
    _assert_reports(_data(samples=samples))


@settings(GENERATED, max_examples=EXAMPLES["fault_phase"])
@given(size=st.integers(1, 10), warmup=st.integers(1, 3), fault=st.lists(st.integers(0, 200), max_size=8),
       refill=st.booleans())
def test_a_pool_that_stops_growing_is_not_a_leak(size: int, warmup: int, fault: list[int], refill: bool) -> None:
    """A pool of any size warming up in the first readings of the baseline (and refilling after a
    fault that ended its connections), whatever the fault phase looked like: never a climb."""
    RAN["fault_phase"] += 1
    grow = [min(size, size * (i + 1) // warmup) for i in range(warmup)]
    base = [0, *grow, *[size] * 8]
    rec = [0 if refill else size, *grow, *[size] * 8]
    samples = _phase(0.0, PLAN.baseline, base) + _phase(PLAN.baseline, PLAN.baseline + PLAN.fault, fault or [0])
    samples += _phase(PLAN.baseline + PLAN.fault, PLAN.total, rec)
    assert [f for f in examine(_data(samples=samples)) if f.kind == CLIMB] == []


@settings(GENERATED, max_examples=EXAMPLES["hostile"])
@given(answers=st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=4, unique=True))
def test_hostile_answers_through_the_runner(answers: list[str]) -> None:
    """A callable answering in turn with markup, newlines, NUL, a DSN with a password, 5000 bytes:
    the disagreement is reported on one line, escaped in the HTML, and the password is masked."""
    RAN["hostile"] += 1
    turn = itertools.cycle(answers)

    def answer() -> str:
        return next(turn)

    data = run([CallTarget(answer)], Plan(baseline=0.3, fault=0.05, recovery=0.05, concurrency=1, interval=0.01),
               [], None)
    report = _assert_reports(data)
    differ = len({digest(repr(a).encode()) for a in answers}) > 1  # a callable's answer is its repr
    assert [f["kind"] for f in report["findings"]] == ([DISAGREES] if differ else [])
    for out in (render_text(data, judge(data)), render_json(data, judge(data)), render_html(data, judge(data))):
        assert_no_secret(out, SECRETS)
