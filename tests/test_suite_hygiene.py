"""The test suite itself: every wait is bounded, and a per-test ceiling turns a hang into a failure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
_BLOCKING = {"join", "wait", "get", "communicate", "result", "acquire"}  # methods that block with no bound
_SUBPROCESS = {"run", "call", "check_call", "check_output"}
_SLEEPS = {"sleep", "wait"}


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _unbounded_waits(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    inside_a_bound = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                      and _name(node.func) == "wait_for" for arg in node.args}  # asyncio.wait_for(x.wait(), 30)
    for node in ast.walk(tree):
        where = f"{path.relative_to(TESTS.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, owner = node.func.attr, _name(node.func.value)
            has_timeout = any(kw.arg in ("timeout", "bound") for kw in node.keywords)
            if method in _BLOCKING and not node.args and not has_timeout and id(node) not in inside_a_bound:
                found.append(f"{where}: {ast.unparse(node)} waits with no bound")
            if owner == "subprocess" and method in _SUBPROCESS and not has_timeout:
                found.append(f"{where}: subprocess.{method}() with no timeout")
        if isinstance(node, ast.While):
            sleeps = any(isinstance(n, ast.Call) and _name(n.func) in _SLEEPS for n in ast.walk(node))
            text = ast.unparse(node)
            event_loop = isinstance(node.test, ast.UnaryOp) and "is_set()" in ast.unparse(node.test)
            bounded = "assert" in text or "monotonic" in text or "deadline" in text or event_loop
            if sleeps and not bounded:
                found.append(f"{where}: a polling loop with no deadline")
    return found


def test_every_wait_in_the_tests_is_bounded() -> None:
    offenders = [line for path in sorted(TESTS.rglob("*.py")) if "corpus" not in path.parts
                 for line in _unbounded_waits(path)]
    assert not offenders, "\n".join(offenders)


def test_the_scanner_sees_the_shapes_it_forbids(tmp_path: Path) -> None:
    sample = TESTS / "_hygiene_sample.py"
    sample.write_text("import asyncio, subprocess, threading\n"
                      "async def poll(flag):\n    while not flag():\n        await asyncio.sleep(0.01)\n"
                      "def f(t, q, proc):\n    t.join()\n    q.get()\n    proc.wait()\n"
                      "    subprocess.run(['true'])\n    t.join(timeout=5)\n    proc.wait(timeout=5)\n")
    try:
        found = _unbounded_waits(sample)
    finally:
        sample.unlink()
    assert [line.split(": ", 1)[1] for line in found] == [
        "a polling loop with no deadline", "t.join() waits with no bound", "q.get() waits with no bound",
        "proc.wait() waits with no bound", "subprocess.run() with no timeout"]


def test_a_per_test_ceiling_is_configured(pytestconfig: pytest.Config) -> None:
    assert 0 < float(pytestconfig.getini("timeout")) <= 600
    assert pytestconfig.getini("timeout_method") == "signal"  # fixtures still tear the clusters down


def test_a_hanging_test_fails_at_the_ceiling_and_tears_down(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hang="""
        import threading

        import pytest


        @pytest.fixture
        def resource():
            yield
            print("TORN DOWN")


        def test_hangs(resource):
            threading.Event().wait()
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-o", "timeout=1",
                                           "-o", "timeout_method=signal", timeout=120)
    result.assert_outcomes(failed=1)
    assert "Timeout (>1.0s) from pytest-timeout" in result.stdout.str() and "TORN DOWN" in result.stdout.str()
