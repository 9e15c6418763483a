"""examples/seed1-voice-billing-django for real: under ``poolwarden drill`` (ASGI under uvicorn, WSGI
under gunicorn) and its own pytest-django suite on poolwarden's throwaway cluster.

Each drill starts its own cluster (``--start-postgres``), runs ``manage.py migrate`` and ``loaddata
demo`` against it, then serves the app; the app's connections end with the app.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "seed1-voice-billing-django"
PY = sys.executable
SERVERS = {
    "uvicorn": [PY, "-m", "uvicorn", "voicebilling.asgi:application", "--port", "{port}"],
    "gunicorn": [PY, "-m", "gunicorn", "voicebilling.wsgi:application", "--bind", "127.0.0.1:{port}", "--workers", "2"],
}
#: migrate the drill's database and load the demo organization (it has an active plan), then serve
SETUP = " && ".join(shlex.join([PY, "manage.py", *args]) for args in (["migrate", "--noinput", "-v0"],
                                                                     ["loaddata", "-v0", "demo"]))
CONCURRENCY = 3
NO_PLAN = "No active subscription"


def _env() -> dict[str, str]:
    """This tree's poolwarden, and no Django settings of ours leaking into the example."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PGAPPNAME")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def _drill(variant: str, server: str) -> tuple[int, dict[str, Any]]:
    """``poolwarden drill --fault saturation`` on the sync and the async view; (exit code, JSON report).

    The server gets room (max_connections 40, not the drill's 20): under uvicorn the buggy app's
    persistent connections (CONN_MAX_AGE=60 under ASGI, kept by request threads) would otherwise fill
    it during the baseline. The fault lasts 2.5 s: filling the free slots takes a while on a busy
    machine (SCRAM authentication, eight connections at a time), and only then does the app meet
    "too many clients"."""
    app = shlex.join(["sh", "-c", f"{SETUP} && exec {shlex.join(SERVERS[server])}"])
    proc = subprocess.run(
        [PY, "-m", "poolwarden", "drill", "--start-postgres", "--pg-setting", "max_connections=40",
         "--app", app, "--app-cwd", str(EXAMPLE / variant), "--app-timeout", "90",
         "--url", "http://127.0.0.1:{port}/organizations/1/can-call",
         "--url", "http://127.0.0.1:{port}/organizations/1/subscription",
         "--fault", "saturation", "--baseline", "1", "--duration", "2.5", "--recovery", "1",
         "--concurrency", str(CONCURRENCY), "--format", "json"],
        capture_output=True, text=True, env=_env(), timeout=150, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def _statuses(report: dict[str, Any], phase: str) -> set[int | None]:
    return {r.get("status") for r in report["requests"] if r["phase"] == phase}


def _by_phase(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """How many answers of each status (or error) each phase saw: the story of a failed assertion."""
    out: dict[str, dict[str, int]] = {}
    for r in report["requests"]:
        key = str(r.get("status") or r.get("error"))
        out.setdefault(r["phase"], {}).setdefault(key, 0)
        out[r["phase"]][key] += 1
    return out


def _peak(report: dict[str, Any]) -> int:
    """The most server connections the app held at once (the drill's own are not counted)."""
    return max(sum(s["by_application"].values()) for s in report["samples"])


def test_buggy_lies_402_under_saturation_on_uvicorn() -> None:
    code, report = _drill("buggy", "uvicorn")
    assert code == 1 and report["lies"] > 0 and not report["passed"], (report["counts"], _by_phase(report))
    assert _statuses(report, "baseline") == {200}  # it has a plan...
    lie = report["lie_examples"][0]
    assert lie["status"] == 402 and NO_PLAN in lie["body"]  # ...and is told to upgrade
    # the ASGI leak: persistent connections kept by request threads, more than requests in flight
    assert _peak(report) > CONCURRENCY + 1


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_fixed_answers_503_under_saturation(server: str) -> None:
    code, report = _drill("fixed", server)
    assert code == 0 and report["passed"] and report["lies"] == 0, report["lie_examples"]
    assert _statuses(report, "fault") <= {200, 503} and 503 in _statuses(report, "fault"), _by_phase(report)
    assert report["recovered"], _by_phase(report)
    # CONN_MAX_AGE=0: a connection per request in flight (and one still leaving), no more
    assert _peak(report) <= 2 * CONCURRENCY, report["samples"]


def _example_suites(tmp_path: Path, *variants: str) -> list[tuple[int, str]]:
    """Run the example's suite once per variant, side by side (each has its own cluster); (exit code, output)."""
    procs = []
    try:
        for variant in variants:
            with open(tmp_path / f"{variant}.log", "w") as log:  # a file, not a pipe: no one has to drain it
                procs.append(subprocess.Popen(
                    [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"pythonpath={variant}"],
                    cwd=EXAMPLE, stdout=log, stderr=subprocess.STDOUT, env=_env()))
        codes = [proc.wait(timeout=150) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return [(code, (tmp_path / f"{variant}.log").read_text()) for code, variant in zip(codes, variants, strict=True)]


def test_example_pytest_django_suite_passes_on_fixed_and_catches_the_lies_on_buggy(tmp_path: Path) -> None:
    """The example's own tests (pytest-django, its test database in poolwarden's cluster): the fixed
    service passes all; on the buggy one exactly the two saturation tests fail, naming seed 1's lies."""
    (fixed_code, fixed), (buggy_code, buggy) = _example_suites(tmp_path, "fixed", "buggy")
    assert fixed_code == 0 and "5 passed" in fixed, fixed[-3000:]
    assert buggy_code == 1 and "2 failed, 3 passed" in buggy, buggy[-3000:]
    # pytest fits the reason on the line when the terminal is wide enough (COLUMNS differs in CI)
    failed = sorted(re.findall(r"^FAILED \S+::(\w+)", buggy, re.MULTILINE))
    assert failed == ["test_a_full_server_does_not_lose_a_billing_run",
                      "test_a_full_server_is_not_a_missing_subscription"], buggy[-3000:]
    assert "get_active_subscription() answered None: 'no subscription'" in buggy
    assert "process_call_usage() returned: the call is never billed" in buggy
