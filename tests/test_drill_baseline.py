"""drill must not pass an app that is already failing (issue 14): real apps, the real server.

Each of the three findings of :mod:`poolwarden.drill.health` — answers that disagree in the
baseline, a server at its connection limit before the fault, the app's connections climbing —
fails the drill (exit 1) and is in the text, the JSON and the HTML report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolwarden.drill import Plan, run_drill
from poolwarden.drill.report import render_html, render_json, render_text

DRILL_APP = Path(__file__).resolve().parent / "drill_app"
PLAN = Plan(baseline=1.5, fault=0.5, recovery=1.5, concurrency=1, interval=0.1)


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch, postgres: str) -> Iterator[Any]:
    """tests/drill_app/failing.py, its apps connected to this test's database."""
    monkeypatch.syspath_prepend(str(DRILL_APP))
    monkeypatch.setenv("DRILL_TEST_DSN", postgres)
    import failing

    try:
        yield failing
    finally:
        failing.close_leaked()


def _reports(result: Any) -> tuple[str, dict[str, Any], str]:
    data, verdict = result.data, result.verdict
    return render_text(data, verdict), json.loads(render_json(data, verdict)), render_html(data, verdict)


def _kinds(report: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in report["findings"]]


def test_answers_that_flip_in_the_baseline_fail_the_drill(failing: Any, postgres: str) -> None:
    result = run_drill(calls=[failing.flipping_plan], dsn=postgres, plan=PLAN)
    text, report, page = _reports(result)
    assert not result.passed and report["passed"] is False and result.lies == 0  # the lie is in the baseline
    assert _kinds(report) == ["baseline-disagrees"]
    finding = report["findings"][0]
    assert {(r["status"], r["body"]) for r in finding["results"]} == {(None, "'pro'"), (None, "'free'")}
    assert sum(r["count"] for r in finding["results"]) == finding["requests"] >= 2
    assert text.startswith("drill FAILED: baseline disagrees")
    assert "got 2 different results to the same request" in text and "drill cannot tell the fault's effect" in text
    assert 'data-kind="baseline-disagrees"' in page and "&#x27;free&#x27;" in page


def test_flipping_http_status_exits_1_from_the_cli(postgres: str, tmp_path: Path) -> None:
    """Seed 1's lie in the baseline, the way issue 14 met it: an HTTP app answering 200 and 402 to
    the same request, compared by status. Exit 1, the finding in the text and the HTML."""
    page = tmp_path / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "poolwarden", "drill", "--dsn", postgres, "--app",
         f"{sys.executable} failing.py {{port}}", "--app-cwd", str(DRILL_APP),
         "--url", "http://127.0.0.1:{port}/organizations/1/subscription", "--compare", "status",
         "--baseline", "1.5", "--duration", "0.5", "--recovery", "0.5", "--concurrency", "2", "--html", str(page)],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "DRILL_TEST_DSN": postgres})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    head, *lines = proc.stdout.splitlines()
    assert head.startswith("drill FAILED: baseline disagrees"), proc.stdout
    finding = next(line for line in lines if "baseline disagrees" in line)
    assert "x 200 " in finding and "x 402 " in finding and "no active subscription" in finding
    assert 'data-kind="baseline-disagrees"' in page.read_text()


def test_server_full_before_the_baseline_fails_the_drill(failing: Any, postgres: str, postgres_cluster: Any,
                                                         pg_saturate: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every slot for ordinary roles taken before the drill starts (superusers still get in, so the
    healthy app answers, the same answer every time): the server is at its limit without any fault."""
    import shop

    monkeypatch.setattr(shop, "DSN", postgres)
    with pg_saturate(postgres_cluster, application_name="filler") as held:
        for _ in range(3):  # room for the drill's sampler and the app, a superuser, in the reserved slots
            held.pop().close()
        filled = len(held)
        result = run_drill(calls=[shop.honest_plan], dsn=postgres, plan=PLAN)
    text, report, page = _reports(result)
    assert not result.passed and "server-at-limit" in _kinds(report), text
    finding = next(f for f in report["findings"] if f["kind"] == "server-at-limit")
    assert finding["max_connections"] == 40 and finding["slots"] == 40 - finding["reserved_connections"]
    assert finding["peak"] >= filled >= finding["slots"] and finding["samples_at_limit"] >= 1
    assert "server at its connection limit" in text.splitlines()[0]
    assert f"on {finding['slots']} slot(s) open to ordinary roles" in text
    assert 'data-kind="server-at-limit"' in page


def test_connections_climbing_fail_the_drill(failing: Any, postgres: str) -> None:
    result = run_drill(calls=[failing.leaky_plan], dsn=postgres, plan=PLAN)
    text, report, page = _reports(result)
    assert not result.passed and result.lies == 0 and _kinds(report) == ["connections-climb"], text
    finding = report["findings"][0]
    for phase in ("baseline", "recovery"):
        first, mid, last = finding[phase]
        assert first <= mid < last and last - first > finding["margin"] == 2
    assert "connections climb" in text.splitlines()[0] and "does not give them back" in text
    assert 'data-kind="connections-climb"' in page


def test_server_too_full_for_the_drill_itself(postgres: str, postgres_cluster: Any, pg_saturate: Any) -> None:
    """Every slot taken, the drill's own included: the app's persistent connection, opened before
    the server filled up, still answers; the drill's sampling connection is refused. That is the
    server at its limit (exit 1), not a connection error of the drill's (exit 2)."""
    import threading

    import psycopg

    with psycopg.connect(postgres, autocommit=True, application_name="persistent") as conn:
        lock = threading.Lock()

        def plan() -> str:
            with lock:
                row = conn.execute("SELECT 'pro'").fetchone()
            return str(row[0] if row else None)

        with pg_saturate(postgres_cluster, application_name="filler"):
            result = run_drill(calls=[plan], dsn=postgres,
                               plan=Plan(baseline=1.0, fault=0.5, recovery=0.5, concurrency=1, interval=0.05))
    text, report, page = _reports(result)
    assert not result.passed and result.lies == 0 and _kinds(report) == ["server-at-limit"], text
    finding = report["findings"][0]
    assert finding["refused"] >= 1  # (a slot freed later, by a backend still exiting, may let it in)
    assert f"the drill's own connection refused {finding['refused']} time(s)" in text
    assert 'data-kind="server-at-limit"' in page


def test_full_server_explains_a_baseline_that_never_succeeded(postgres: str, postgres_cluster: Any,
                                                               pg_saturate: Any) -> None:
    """Every slot taken, the app's included: every baseline request fails with "too many clients".
    That is not a drill that measured nothing (exit 2) but the server at its limit (exit 1)."""
    import psycopg

    from poolwarden.testing.saturate import is_refusal

    with pg_saturate(postgres_cluster, application_name="filler") as held:
        for _ in range(5):  # a backend still exiting when the filler stopped frees its slot late: take it too
            try:
                held.append(psycopg.connect(postgres_cluster.dsn(), application_name="filler"))
            except psycopg.OperationalError as exc:
                assert is_refusal(exc), exc
                break
        proc = subprocess.run(
            [sys.executable, "-m", "poolwarden", "drill", "--dsn", postgres, "--call", "shop:honest_plan",
             "--app-cwd", str(DRILL_APP), "--baseline", "1", "--duration", "0.5", "--recovery", "0.5",
             "--concurrency", "1", "--format", "json"],
            capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "DRILL_TEST_DSN": postgres})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    report = json.loads(proc.stdout)
    assert report["baseline_succeeded"] is False and report["inconclusive"] is False
    assert set(report["baseline_failures"]) == {"OperationalError"} and _kinds(report) == ["server-at-limit"]
    assert "poolwarden: error" not in proc.stderr
