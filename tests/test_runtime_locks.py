"""runtime.locks.single_flight: racing worker processes, a killed holder, waiting, pooled connections."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy

from poolwarden.runtime import engine as rt
from poolwarden.runtime.locks import lock_id, single_flight

from .conftest import auntil, joined, until

GATE = 424242  # an advisory lock the test holds to keep a winning run inside its job

WORKER = textwrap.dedent("""
    import sys
    import psycopg
    from poolwarden.runtime.locks import single_flight

    dsn, gate = sys.argv[1], int(sys.argv[2])

    @single_flight("nightly-report", dsn=dsn)
    def job():
        print("acquired", flush=True)
        with psycopg.connect(dsn, autocommit=True, application_name="pw-job") as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (gate,))  # blocks while the test holds the gate
            conn.execute("INSERT INTO runs VALUES (now())")
        return "ran"

    print(job() or "skipped", flush=True)
""")


def _advisory(dsn: str, granted: bool = True) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = %s",
                           (granted,)).fetchone()
        assert row is not None
        return int(row[0])



@pytest.fixture
def gate(postgres: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection holding the GATE lock (a winning run waits on it), with a ``runs`` table."""
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (at timestamptz)")
        conn.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        yield conn


@pytest.fixture
def spawn(postgres: str, tmp_path: Path) -> Callable[[], subprocess.Popen[str]]:
    """Start one worker process running WORKER's single-flight job."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return lambda: subprocess.Popen([sys.executable, str(script), postgres, str(GATE)], stdout=subprocess.PIPE,
                                    text=True)


def test_two_racing_workers_run_the_job_once(postgres: str, gate: Any, spawn: Any) -> None:
    workers = [spawn(), spawn()]  # started together: they race
    try:
        # the loser finds the lock taken and exits; the winner is inside job(), held by the gate
        loser = next(iter(_first_exit(workers)))
        out, _ = loser.communicate(timeout=60)
        assert out.split() == ["skipped"]
    finally:
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    winner = next(w for w in workers if w is not loser)
    out, _ = winner.communicate(timeout=60)
    assert out.split() == ["acquired", "ran"]
    row = gate.execute("SELECT count(*) FROM runs").fetchone()
    assert row == (1,)
    until(lambda: _advisory(postgres) == 0)


def _first_exit(procs: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        done = [p for p in procs if p.poll() is not None]
        if done:
            return done
        time.sleep(0.02)
    for p in procs:
        p.kill()
    raise AssertionError("neither worker finished")


def test_a_killed_holder_releases_the_lock(postgres: str, gate: Any, spawn: Any) -> None:
    holder = spawn()
    try:
        assert holder.stdout is not None
        assert select.select([holder.stdout], [], [], 60)[0], "the worker printed nothing in 60 s"
        assert holder.stdout.readline().strip() == "acquired"
        with single_flight("nightly-report", dsn=postgres) as acquired:
            assert acquired is False  # held by the worker
        os.kill(holder.pid, signal.SIGKILL)  # OOM killer, kill -9: no finally runs
        holder.wait(timeout=60)
    finally:
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    # the server drops the dead worker's session and its lock with it; waiting up to 30 s for it
    with single_flight("nightly-report", dsn=postgres, wait=30) as acquired:
        assert acquired is True
    assert gate.execute("SELECT count(*) FROM runs").fetchone() == (0,)  # the killed run never finished
    until(lambda: _advisory(postgres) == 0)


def test_skip_names_the_holder_and_wait_runs_after_it(postgres: str, caplog: pytest.LogCaptureFixture) -> None:
    skipped: list[str | int] = []
    order: list[str] = []
    release = threading.Event()

    @single_flight("reindex", dsn=postgres)
    def first() -> str:
        order.append("first")
        release.wait(30)
        return "first done"

    @single_flight("reindex", dsn=postgres, wait=30)
    def patient() -> str:
        order.append("patient")
        return "patient done"

    @single_flight("reindex", dsn=postgres, on_skip=skipped.append)
    def impatient() -> str:
        order.append("impatient")
        return "impatient done"

    results: dict[str, Any] = {}
    t1 = threading.Thread(target=lambda: results.update(first=first()))
    t1.start()
    until(lambda: _advisory(postgres) == 1)
    with caplog.at_level(logging.INFO, logger="poolwarden.locks"):
        assert impatient() is None
    assert skipped == ["reindex"] and "application_name 'poolwarden-single-flight'" in caplog.text
    t2 = threading.Thread(target=lambda: results.update(patient=patient()))
    t2.start()
    until(lambda: _advisory(postgres, granted=False) == 1)  # patient is queued on the lock
    release.set()
    joined(t1)
    joined(t2)
    assert order == ["first", "patient"] and results == {"first": "first done", "patient": "patient done"}
    until(lambda: _advisory(postgres) == 0)


def test_pooled_connection_comes_back_clean(postgres: str) -> None:
    engine = rt.create_engine(postgres.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
    try:
        @single_flight(lambda org: f"sync:{org}", engine=engine, wait=5)
        def sync(org: int) -> int:
            assert _advisory(postgres) == 1  # held on the pool's one connection, outside a transaction
            return org

        assert sync(7) == 7
        with pytest.raises(ZeroDivisionError), single_flight("boom", engine=engine):
            raise ZeroDivisionError
        with engine.connect() as conn:  # the one pooled connection: no lock, no transaction, defaults back
            row = conn.execute(sqlalchemy.text(
                "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
                "current_setting('lock_timeout')")).one()
            assert tuple(row) == (0, "0")
        assert _advisory(postgres) == 0
    finally:
        engine.dispose()


def test_async_jobs_with_an_async_engine(postgres: str) -> None:
    engine = rt.create_async_engine(postgres.replace("postgresql://", "postgresql+asyncpg://"))
    gate = asyncio.Event()

    @single_flight("async-job", engine=engine)
    async def job(name: str) -> str:
        await asyncio.wait_for(gate.wait(), 30)
        return name

    async def main() -> list[Any]:
        try:
            first = asyncio.create_task(job("a"))
            await auntil(lambda: _advisory(postgres) > 0)
            second = await job("b")  # skipped: "a" holds the lock
            gate.set()
            return [await first, second]
        finally:
            await engine.dispose()

    assert asyncio.run(main()) == ["a", None]
    assert _advisory(postgres) == 0


def test_keys_and_arguments() -> None:
    assert lock_id(42) == 42 and lock_id("job") == lock_id("job") != lock_id("job", namespace="other")
    assert -(2**63) <= lock_id("x" * 1000) < 2**63
    for bad in (True, "", 2**64, 1.5):
        with pytest.raises((TypeError, ValueError)):
            lock_id(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        single_flight("k")
    with pytest.raises(ValueError, match="wait"):
        single_flight("k", dsn="postgresql://x/y", wait=-1)
