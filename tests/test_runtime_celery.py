"""Seed 1's Celery contrast, for real: a prefork worker (Redis broker) running a few hundred tasks
through an async engine. With poolwarden's bridge the backends stay within the pool bound; with
the seed's loop-per-task bridge they grow past it or tasks fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poolwarden.testing.cluster import PostgresCluster, free_port

from .conftest import joined

ROOT = Path(__file__).resolve().parent.parent
TASKS = 200
CONCURRENCY = 2
POOL_BOUND = CONCURRENCY * 2  # each child: pool_size=2, max_overflow=0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(exe).exists():
        pytest.fail("redis-server not found: install Debian's redis-server (make test does)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(200):  # wait for the listener (bounded)
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _backends(cluster: PostgresCluster, app: str) -> int:
    with cluster.admin() as conn:
        row = conn.execute(  # type: ignore[attr-defined]
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    return int(row[0])


def _failure_and_attempts(redis_url: str, key: str, send: Any) -> tuple[BaseException | None, int]:
    """Send a task keyed ``key`` and wait for it: the error it ended with, and how many times it ran
    (the task counts its runs in Redis under ``key``)."""
    import redis

    try:
        send(key).get(timeout=60)
        error = None
    except Exception as exc:
        error = exc
    client = redis.Redis.from_url(redis_url)
    attempts = int(client.get(key) or 0)
    client.close()
    return error, attempts


def _run(mode: str, cluster: PostgresCluster, redis_url: str, dbname: str,
         body: Any = None) -> dict[str, Any]:
    app_name = f"pw-celery-{mode}"
    env = {**os.environ, "PW_MODE": mode, "PW_REDIS": redis_url, "PW_APP": app_name,
           "PW_DSN": cluster.dsn(dbname).replace("postgresql://", "postgresql+asyncpg://"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}  # this tree, not the installed one
    log = open(Path(cluster.base) / f"celery-{mode}.log", "wb")  # noqa: SIM115 -- closed in finally
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.celery_app.tasks_app", "worker", "-P", "prefork",
         "-c", str(CONCURRENCY), "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    peak = 0
    saturated = False  # the worker took every slot: even the watcher's connection was refused
    stop = threading.Event()

    def watch() -> None:
        import psycopg

        nonlocal peak, saturated
        while not stop.is_set():
            try:
                peak = max(peak, _backends(cluster, app_name))
            except psycopg.OperationalError as exc:
                if "too many clients" not in str(exc):
                    raise
                saturated = True
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        from celery import group

        os.environ.update({k: env[k] for k in ("PW_MODE", "PW_REDIS", "PW_APP", "PW_DSN")})
        import importlib

        import tests.celery_app.tasks_app as tasks_app

        tasks_app = importlib.reload(tasks_app)
        if body is not None:
            return {"body": body(tasks_app), "peak": peak}
        result = group(tasks_app.touch.s(i) for i in range(TASKS)).apply_async()
        try:
            values = result.get(timeout=120, propagate=False)
        except Exception as exc:
            raise AssertionError(f"tasks did not finish: {exc}\n" + Path(log.name).read_text()[-3000:]) from exc
        failures = [v for v in values if isinstance(v, BaseException)]
        after = _backends(cluster, app_name) if not saturated else -1
        result.forget()
    finally:
        stop.set()
        joined(watcher)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)
        log.close()
        tasks_app.app.close()
    return {"peak": peak, "saturated": saturated, "after": after, "failures": failures, "values": values}


def test_persistent_loop_stays_within_the_pool_bound(postgres_cluster: PostgresCluster, redis_url: str,
                                                     postgres: str) -> None:
    run = _run("bridge", postgres_cluster, redis_url, postgres.rsplit("/", 1)[1])
    assert run["failures"] == []
    assert sorted(run["values"]) == list(range(TASKS))
    assert not run["saturated"]
    assert 1 <= run["peak"] <= POOL_BOUND
    assert run["after"] <= POOL_BOUND


def test_loop_per_task_bridge_leaks_or_fails(postgres_cluster: PostgresCluster, redis_url: str,
                                             postgres: str) -> None:
    run = _run("loop-per-task", postgres_cluster, redis_url, postgres.rsplit("/", 1)[1])
    assert run["saturated"] or run["peak"] > POOL_BOUND or run["failures"], {k: run[k] for k in ("peak", "saturated")}


def test_transient_failures_are_retried_real_bugs_are_not(postgres_cluster: PostgresCluster, redis_url: str,
                                                         postgres: str) -> None:
    def body(tasks_app: Any) -> tuple[int, BaseException | None, int]:
        attempts = tasks_app.flaky.delay(f"flaky-{free_port()}", free_port()).get(timeout=60)
        error, broken_attempts = _failure_and_attempts(redis_url, f"broken-{free_port()}",
                                                       lambda key: tasks_app.broken.delay(key))
        return attempts, error, broken_attempts

    run = _run("bridge", postgres_cluster, redis_url, postgres.rsplit("/", 1)[1], body)
    attempts, error, broken_attempts = run["body"]
    assert attempts == 2  # the refused connection was retried once, then the task succeeded
    assert isinstance(error, ValueError) and broken_attempts == 1  # a real bug fails at once


def test_a_write_that_may_have_committed_is_not_retried(postgres_cluster: PostgresCluster, redis_url: str,
                                                        postgres: str) -> None:
    """The same lost write: inside a transaction (rolled back, CONNECTION) it is retried; in
    autocommit (AMBIGUOUS: it may have committed) the task fails at once, for the caller to check."""
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute("CREATE TABLE pw_celery_ledger (n int); INSERT INTO pw_celery_ledger VALUES (0)")

    def body(tasks_app: Any) -> tuple[int, BaseException | None, int]:
        retried = tasks_app.lost_write.delay(f"tx-{free_port()}", False).get(timeout=60)
        error, attempts = _failure_and_attempts(redis_url, f"autocommit-{free_port()}",
                                                lambda key: tasks_app.lost_write.delay(key, True))
        return retried, error, attempts

    run = _run("bridge", postgres_cluster, redis_url, postgres.rsplit("/", 1)[1], body)
    retried, error, attempts = run["body"]
    assert retried == 2  # lost inside a transaction: retried once, then done
    assert error is not None and "terminating connection" in str(error), error
    assert attempts == 1  # lost under an autocommit write: not retried
