"""poolwarden drill end to end: real servers, real app processes, a real browser for the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poolwarden.drill import Plan, run_drill
from poolwarden.drill.model import Outcome
from poolwarden.drill.report import render_html

ROOT = Path(__file__).resolve().parent.parent
SEED1 = ROOT / "examples" / "seed1-voice-billing"
DRILL_APP = Path(__file__).resolve().parent / "drill_app"


def _seed1(version: str) -> Any:
    return run_drill(
        urls=["http://127.0.0.1:{port}/organizations/1/subscription"], headers={"X-Tenant-Id": "acme"},
        start_postgres=True, setup_sql=SEED1 / "drill.sql",
        app=f"{sys.executable} -m uvicorn billing.api:app --port {{port}}", app_cwd=str(SEED1 / version),
        app_env={"PLATFORM_DATABASE_URL": "postgresql+asyncpg://{db_user}:{db_password}@{db_host}:{db_port}/{db_name}"},
        faults=["saturation"], plan=Plan(baseline=1.5, fault=2.5, recovery=2.5, concurrency=3, interval=0.02))


@pytest.fixture(scope="module")
def seed1_buggy() -> Any:
    return _seed1("buggy")


def test_seed1_buggy_app_lies_under_saturation(seed1_buggy: Any) -> None:
    v = seed1_buggy.verdict
    assert v.lies > 0 and not seed1_buggy.passed
    example = v.lie_examples[0]
    assert example["status"] == 404 and "No active subscription" in example["body"]  # the seed's "no"
    assert v.counts["baseline"][Outcome.BASELINE_ANSWER] > 0 and v.baseline_answers == 1
    assert v.recovered and v.connections_returned


def test_seed1_fixed_app_is_honest_under_saturation() -> None:
    result = _seed1("fixed")
    v = result.verdict
    assert v.lies == 0 and result.passed
    assert v.counts["fault"][Outcome.HONEST] > 0  # 503 + Retry-After while the server refuses
    assert all(r.status in (200, 503) for r in result.data.requests if r.phase == "fault")
    assert v.recovered and v.connections_returned


@pytest.mark.parametrize("version", ["buggy", "fixed"])
def test_seed3_partition_hangs_the_buggy_app_only(version: str) -> None:
    """Seed 3: the address answers nothing. Without connect_timeout every request hangs for the
    whole partition (one per client); with it they fail with 503 after 2 s, again and again."""
    seed3 = ROOT / "examples" / "seed3-relay-api"
    result = run_drill(
        urls=["http://127.0.0.1:{port}/auth/me"], headers={"Cookie": "session_id=s1"}, start_postgres=True,
        setup_sql=seed3 / "drill.sql", app=f"{sys.executable} -m uvicorn relay.api:app --port {{port}}",
        app_cwd=str(seed3 / version), app_env={"DB_CONNECT_TIMEOUT": "2"}, faults=["partition"],
        plan=Plan(baseline=1.5, fault=7, recovery=3, concurrency=3, interval=0.02, timeout=30))
    during = [r for r in result.data.requests if r.phase == "fault"]
    assert result.passed and result.lies == 0  # nobody lies here: the question is how long it takes
    healed = result.data.fault_ended
    ended_before_heal = [r for r in during if r.started + r.latency_ms / 1000 < healed]
    if version == "buggy":  # every request stuck until the network heals, at most one per client
        # (a client's stuck request may have started just before the fault, under a busy machine)
        stuck = [r for r in result.data.requests if r.started < healed <= r.started + r.latency_ms / 1000]
        assert 0 < len(stuck) <= 3 and len(during) <= 3 and ended_before_heal == []
    else:  # 503 after the connect timeout, and the next request, well before the heal
        assert len(ended_before_heal) >= 3 and {r.status for r in during} == {503}
    assert result.verdict.recovered


@pytest.mark.parametrize("version", ["buggy", "fixed"])
def test_seed4_leaked_connections_never_recover(version: str) -> None:
    """Seed 4: the standings job returns early without giving its connection back. The buggy
    scheduler empties its pool (8) on its own and never recovers; the fixed one rides out a
    terminate of its backends."""
    seed4 = ROOT / "examples" / "seed4-coderden-scheduler"
    # the job's function (Task.run): calling the Celery task object itself from the drill's threads
    # races Celery's lazy binding (AttributeError: request_stack is None) — a baseline failure of the
    # harness that drill now reports (baseline disagrees), not the job's
    result = run_drill(calls=["coderden.tasks:sync_contest_standings.run"], call_path=str(seed4 / version),
                       start_postgres=True, setup_sql=seed4 / "drill.sql", faults=["terminate"],
                       plan=Plan(baseline=1, fault=1.5, recovery=1.5, concurrency=2, interval=0.02))
    sys.modules.pop("coderden", None)  # both variants share the package name
    for name in [m for m in sys.modules if m.startswith("coderden.")]:
        sys.modules.pop(name)
    sys.path.remove(str(seed4 / version))
    v = result.verdict
    if version == "buggy":
        assert not result.passed and not v.recovered
        assert {r.error for r in result.data.requests if r.phase == "recovery"} == {"PoolError"}
    else:
        assert result.passed and v.counts["recovery"][Outcome.ERROR] == 0


def test_html_report_opens_in_headless_chromium(seed1_buggy: Any, tmp_path: Path) -> None:
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert browser, "make test installs chromium-headless-shell (scripts/system-deps)"
    page = tmp_path / "drill.html"
    page.write_text(render_html(seed1_buggy.data, seed1_buggy.verdict), encoding="utf-8")
    assert "http://" not in page.read_text().replace("http://www.w3.org/2000/svg", "").split("<body")[0]
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-500:]
    dom = proc.stdout
    assert 'data-rendered="yes"' in dom  # the timeline SVG was laid out with a non-empty box
    points = int(dom.split('data-points="')[1].split('"')[0])
    assert points == len(seed1_buggy.data.requests)
    assert dom.count('class="request lie"') == seed1_buggy.verdict.lies
    assert 'class="connections"' in dom
    summary = json.loads(dom.split('id="drill-data">')[1].split("</script>")[0])
    assert summary["lies"] == seed1_buggy.verdict.lies and summary["passed"] is False


def test_cli_drill_a_callable_against_this_database(postgres: str, tmp_path: Path) -> None:
    env = {**os.environ, "DRILL_TEST_DSN": postgres}
    base = [sys.executable, "-m", "poolwarden", "drill", "--dsn", postgres, "--app-cwd", str(DRILL_APP),
            "--baseline", "1", "--duration", "2", "--recovery", "1.5", "--concurrency", "2", "--format", "json"]
    lying = subprocess.run([*base, "--call", "shop:lying_plan", "--html", str(tmp_path / "r.html")],
                           capture_output=True, text=True, env=env, timeout=120, check=False)
    assert lying.returncode == 1, lying.stderr
    report = json.loads(lying.stdout)
    assert report["lies"] > 0 and report["lie_examples"][0]["body"] == "'free'"
    assert report["recovered"] is True and (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    honest = subprocess.run([*base, "--call", "shop:honest_plan"], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert honest.returncode == 0, honest.stdout[-2000:] + honest.stderr
    report = json.loads(honest.stdout)
    assert report["lies"] == 0 and report["counts"]["fault"]["honest"] > 0  # OperationalError: transient


def test_ctrl_c_releases_everything(postgres: str) -> None:
    """SIGINT in the middle of a saturation: partial results, exit 130, no connection left (leak guard)."""
    import signal
    import time

    import psycopg

    env = {**os.environ, "DRILL_TEST_DSN": postgres}
    proc = subprocess.Popen([sys.executable, "-m", "poolwarden", "drill", "--dsn", postgres, "--app-cwd",
                             str(DRILL_APP), "--call", "shop:honest_plan", "--baseline", "0.5", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(postgres, autocommit=True) as conn:
            while True:  # wait until the saturation holds its connections
                row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE application_name = 'poolwarden-drill-saturation'").fetchone()
                if row and row[0] > 0:
                    break
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
                time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out and "every connection the drill opened is closed" in err


@pytest.mark.parametrize("fault", ["outage", "slow", "terminate"])
def test_proxy_and_terminate_faults_on_a_callable(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(DRILL_APP))
    try:
        import shop

        monkeypatch.setattr(shop, "DSN", "")  # the drill's DATABASE_URL, through its proxy
        result = run_drill(calls=[shop.honest_plan], start_postgres=True, faults=[fault], delay=0.05,
                           plan=Plan(baseline=1, fault=3, recovery=2, concurrency=2, interval=0.02))
    finally:
        sys.path.remove(str(DRILL_APP))
    during = [r for r in result.data.requests if r.phase == "fault"]
    assert result.passed and during
    if fault == "outage":  # refused: once the proxy refuses, the callable raises a transient error, every time
        during = [r for r in during if r.started >= result.data.fault_active]  # not a call sent just before
        assert {r.outcome for r in during} == {Outcome.HONEST} and {r.error for r in during} == {"OperationalError"}
    elif fault == "slow":  # answers, the same ones, each at least one delayed round trip late
        assert {r.outcome for r in during} == {Outcome.OK}
        assert min(r.latency_ms for r in during) >= 50
    else:  # the callable connects per call: killing backends once costs it nothing
        assert Outcome.LIE not in {r.outcome for r in during}


def test_drill_fixture(drill: Any, postgres: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(DRILL_APP))
    try:
        import shop

        monkeypatch.setattr(shop, "DSN", postgres)
        assert drill(calls=[shop.honest_plan], faults=["saturation"]).lies == 0
        result = drill(calls=[shop.lying_plan], faults=["pool-exhaustion"], duration=3)
        assert result.lies > 0 and not result.passed, (result.verdict.counts, result.data.fault_errors)
        assert result.data.faults == ["pool-exhaustion"] and result.verdict.recovered
    finally:
        sys.path.remove(str(DRILL_APP))


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "http://127.0.0.1:1/x", "--dsn", "postgresql://app:s3cret@203.0.113.5/app"],
     "203.0.113.5 (host from the DSN) is not this machine"),
    (["--dsn", "postgresql://app:s3cret@localhost/app"], "nothing to drill"),
    (["--url", "http://127.0.0.1:1/x"], "exactly one of --dsn or --start-postgres"),
    (["--url", "http://127.0.0.1:1/x", "--dsn", "postgresql://app:s3cret@localhost/app", "--fault", "outage"],
     "--fault outage needs"),
    (["--url", "http://127.0.0.1:1/x", "--dsn", "postgresql://app:s3cret@localhost/app", "--fault", "partition"],
     "--fault partition needs"),
    (["--url", "ftp://x", "--dsn", "postgresql://app:s3cret@localhost/app"], "expected an http"),
    (["--call", "nodots", "--dsn", "postgresql://app:s3cret@localhost/app"], "expected module:function"),
    (["--url", "http://127.0.0.1:1/x", "--header", "nocolon", "--dsn", "postgresql://a:s3cret@localhost/x"],
     "--header 'nocolon'"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "poolwarden", "drill", *args], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("poolwarden: error:") and message in lines[-1], proc.stderr
    assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_dsn_is_masked(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "poolwarden", "drill", "--call", "os:getpid",
                           "--dsn", "postgresql://app:s3cret@127.0.0.1:1/app", "--baseline", "0.5"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "s3cret" not in proc.stderr and "***" in proc.stderr, proc.stderr


# -- issue 10 item 10: inputs checked before anything starts; clear answers ---------------------------

FAST = ["--baseline", "0.5", "--duration", "0.5", "--recovery", "0.5", "--concurrency", "1"]
NO_SOCKET = "host=/nonexistent/poolwarden-socket-dir password=s3cret connect_timeout=2"


def _drill(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`poolwarden drill` as the console script runs it: without the current directory on sys.path (-P)."""
    return subprocess.run([sys.executable, "-P", "-m", "poolwarden", "drill", *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd or ROOT, env={**os.environ, **(env or {})})


def test_call_imports_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("def present():\n    return 1\n")
    here = _drill("--call", "mymod:absent", "--dsn", NO_SOCKET, cwd=tmp_path)
    assert here.returncode == 2 and "mymod has no attribute absent" in here.stderr, here.stderr  # it was imported
    elsewhere = _drill("--call", "mymod:present", "--dsn", NO_SOCKET)
    assert elsewhere.returncode == 2 and "cannot import mymod from" in elsewhere.stderr
    assert "--app-cwd" in elsewhere.stderr and "Traceback" not in elsewhere.stderr


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--html", "/nonexistent-dir/r.html", "directory /nonexistent-dir does not exist"),
    ("--html", "/tmp", "is a directory"),
    ("--html", "/etc/hostname/r.html", "does not exist"),
    ("--html", "/proc/version", "cannot write"),
    ("--app-log", "/nonexistent-dir/app.log", "directory /nonexistent-dir does not exist"),
])
def test_output_paths_are_checked_before_the_drill_runs(option: str, value: str, message: str) -> None:
    from tests.adversarial.contract import assert_clean_failure, nothing_left_behind, private_tmp

    with private_tmp() as tmp, nothing_left_behind(tmp):
        proc = _drill("--call", "os:getpid", "--start-postgres", option, value, *FAST, env={"TMPDIR": tmp})
    assert_clean_failure(proc, contains=[option, message])
    assert "drill: baseline" not in proc.stderr  # nothing ran


def test_app_that_never_answers_fails_in_one_line_and_leaves_nothing() -> None:
    from tests.adversarial.contract import assert_clean_failure, nothing_left_behind, private_tmp

    app = f"{sys.executable} -c \"import time; print('starting, password=s3cret', flush=True); time.sleep(60)\""
    with private_tmp() as tmp, nothing_left_behind(tmp):
        proc = _drill("--url", "http://127.0.0.1:{port}/", "--start-postgres", "--app", app, "--app-timeout", "1",
                      *FAST, env={"TMPDIR": tmp})
    assert_clean_failure(proc, contains=["did not answer", "within 1 s", "starting, password=***"])


def test_baseline_that_never_succeeds_says_so(postgres: str) -> None:
    proc = _drill("--url", "http://127.0.0.1:1/nothing-listens", "--dsn", postgres, *FAST)
    assert proc.returncode == 2, proc.stderr
    assert "baseline never succeeded" in proc.stderr and "ConnectionRefusedError" in proc.stderr, proc.stderr
    assert "no recovery" not in proc.stdout + proc.stderr and proc.stdout.startswith("drill INCONCLUSIVE")
