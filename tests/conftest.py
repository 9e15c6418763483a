"""Shared helpers: run the analyzer on small trees written to a temporary directory."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poolwarden.check import CheckConfig, Finding, check_paths

from .adversarial.contract import THROWN

ROOT = Path(__file__).resolve().parent.parent

#: A PW101 (a DB failure turned into `return None`) and a PW103 (an engine with default pool
#: settings): the small trees the CLI tests check.
SWALLOW = '''\
from sqlalchemy import select


async def get_sub(db, org):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception:
        return None
'''
ENGINE = 'from sqlalchemy import create_engine\n\nengine = create_engine("postgresql+asyncpg://db/app")\n'

pytest_plugins = ["pytester"]  # tests of the pytest plugin run inner pytest sessions


def write_tree(base: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> source) under ``base``; packages get ``__init__.py``."""
    for rel, src in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src, encoding="utf-8")
        parent = path.parent
        while parent != base:
            init = parent / "__init__.py"
            if not init.exists():
                init.write_text("")
            parent = parent.parent
    return base


def until(predicate: Callable[[], object], bound: float = 15.0) -> None:
    """Poll ``predicate`` until true, at most ``bound`` seconds: waiting for a timer or a server to
    catch up (a close landing, a breaker's reset timeout), never to make a race pass."""
    end = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.01)


async def auntil(predicate: Callable[[], object], bound: float = 15.0) -> None:
    """:func:`until` for coroutines: poll ``predicate`` between ``await asyncio.sleep`` s, at most ``bound`` seconds."""
    end = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.01)


def joined(thread: threading.Thread, bound: float = 60.0) -> None:
    """Join ``thread``, at most ``bound`` seconds; fail (rather than hang) when it is still running."""
    thread.join(timeout=bound)
    assert not thread.is_alive(), f"thread {thread.name} still running after {bound} s"


def run_check(paths: list[Path], **config: object) -> list[Finding]:
    cfg = CheckConfig(**config)  # type: ignore[arg-type]
    return check_paths([str(p) for p in paths], cfg, use_cache=False, jobs=1).findings


def cli(*args: str, cwd: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m poolwarden`` as a user would (bounded: a hang fails the test after 300 s)."""
    return subprocess.run(
        [sys.executable, "-m", "poolwarden", *args], cwd=cwd or ROOT, capture_output=True, text=True, check=False,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(files: dict[str, str]) -> Path:
        return write_tree(tmp_path, files)

    return make


# -- the adversarial suites report how many generated inputs they threw, per command (also under
# pytest-xdist: each worker hands its counts to the controller, which prints the sum) -----------
_COLLECTED: dict[str, Counter[str]] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints
        workeroutput["poolwarden_thrown"] = json.dumps({k: dict(v) for k, v in THROWN.items()})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    counts = json.loads(getattr(node, "workeroutput", {}).get("poolwarden_thrown", "{}"))
    for suite, families in counts.items():
        _COLLECTED.setdefault(suite, Counter()).update(families)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    merged: dict[str, Counter[str]] = {}
    for source in (THROWN, _COLLECTED):
        for suite, counts in source.items():
            merged.setdefault(suite, Counter()).update(counts)
    for suite, counts in sorted(merged.items()):
        if sum(counts.values()):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            terminalreporter.write_line(f"adversarial {suite}: {sum(counts.values())} generated inputs ({detail})")
