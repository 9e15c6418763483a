"""Django's native pool across a real fork — a Celery prefork worker (Redis broker), a gunicorn
``--preload`` master — with and without poolwarden's hooks (``install(app, django=True)``,
``post_fork``).

The worker's main process opens Django's pool before forking its two children
(``tests/djrt_site/celery_app.py``). Measured, without the hook:

* with Celery's own Django fixup off, the children run their queries on the parent's connection:
  one PostgreSQL backend answers both worker processes (two processes on one socket);
* with it on (Celery's default), each child *closes* the pool it inherited, which sends
  PostgreSQL's Terminate on the parent's sockets: the parent's backends are ended by its children.

Under gunicorn ``--preload`` (the master opens the pool at import), without ``post_fork`` both
workers answer requests on the master's connections.

With the hook, each child lets go of the inherited sockets without a byte on the wire: the
parent's backends all live on, no backend serves two processes, every answer is the task's own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from poolwarden.testing.cluster import PostgresCluster

from .django_servers import TESTS, serve, site_env, stop
from .test_runtime_celery import redis_url  # noqa: F401 -- the module's Redis server fixture

TASKS = 10
APP = "djrt-fork"


def _alive(cluster: PostgresCluster, pids: list[int]) -> list[int]:
    with cluster.admin() as conn:
        rows = conn.execute(  # type: ignore[attr-defined]
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchall()
    return sorted(int(r[0]) for r in rows)


def _run(cluster: PostgresCluster, dsn: str, redis: str, *, hook: bool, fixup: bool) -> dict[str, Any]:
    """Start the worker (-P prefork -c 2), run :data:`TASKS` tasks, and say what happened."""
    import redis as redis_client
    from celery import Celery

    env = site_env({"DJRT_DSN": dsn, "DJRT_APP": APP, "DJRT_POOL": "4", "DJRT_POOL_MIN": "2", "DJRT_REDIS": redis,
                    "DJRT_FORK_HOOK": "1" if hook else "0", "DJRT_CELERY_FIXUP": "1" if fixup else "0",
                    "CELERY_SKIP_CHECKS": "1"})
    log = Path(cluster.base) / f"celery-fork-{hook}-{fixup}.log"
    client = Celery("djrt-client", broker=redis, backend=redis)  # no Django in this process
    store = redis_client.Redis.from_url(redis)
    store.delete("djrt:parent")
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "djrt_site.celery_app", "worker", "-P", "prefork", "-c", "2",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
            cwd=TESTS, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            results = [client.send_task("djrt_site.celery_app.whoami", args=[i, 0.05]) for i in range(TASKS)]
            answers = []
            for result in results:
                try:
                    answers.append(result.get(timeout=60))
                except Exception as exc:
                    answers.append(exc)
            parent = json.loads(store.get("djrt:parent") or "[]")
            assert parent, "the worker's warm-up did not run:\n" + log.read_text()[-3000:]
            alive = _alive(cluster, parent)  # while the parent still runs
        finally:
            stop(worker, signal.SIGQUIT)  # cold shutdown: the children are done, no need to wait
            store.close()
            client.close()
    return _verdict(parent, alive, answers)


def _verdict(parent: list[int], alive: list[int], answers: list[Any]) -> dict[str, Any]:
    """``answers[i]``: [worker process, backend pid, echoed token(, connection held at start)] of the
    i-th task or request, or its error."""
    processes_of: dict[int, set[int]] = defaultdict(set)  # backend pid -> worker processes it answered
    for answer in answers:
        if isinstance(answer, list):
            processes_of[answer[1]].add(answer[0])
    return {"parent": sorted(parent), "alive": alive, "answers": answers, "processes_of": processes_of,
            "failures": [a for a in answers if not isinstance(a, list)],
            "wrong": [a for i, a in enumerate(answers) if isinstance(a, list) and a[2] != i]}


def _gunicorn(cluster: PostgresCluster, dsn: str, tmp_path: Path, *, hook: bool) -> dict[str, Any]:
    """gunicorn --preload -w 2 (the master opens the pool at import); :data:`TASKS` requests, 4 at a time."""
    parent_file = tmp_path / "parent.json"
    env = {"DJRT_DSN": dsn, "DJRT_APP": APP, "DJRT_POOL": "4", "DJRT_POOL_MIN": "2", "DJRT_WARM": str(parent_file),
           "DJRT_FORK_HOOK": "1" if hook else "0"}
    with serve("gunicorn", env, "--preload", "-w", "2", "-c", "djrt_site/gunicorn_conf.py") as url:
        def get(i: int) -> Any:
            try:
                answer = httpx.get(f"{url}/echo?token={i}", timeout=30)
                body = answer.json()
                return [body["process"], body["backend"], body["token"]]
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(4) as requests:
            answers = list(requests.map(get, range(TASKS)))
        parent = json.loads(parent_file.read_text())
        alive = _alive(cluster, parent)
    return _verdict(parent, alive, answers)


def _shared(run: dict[str, Any]) -> None:
    """The children ran on the parent's connections."""
    shared = {backend: procs for backend, procs in run["processes_of"].items() if len(procs) > 1}
    assert shared, run["processes_of"]  # one backend, two worker processes: one socket, two writers
    assert set(shared) <= set(run["parent"]), (shared, run["parent"])  # ... and it is the parent's
    if run["answers"] and len(run["answers"][0]) > 3:  # Celery: nobody hands a task's connection back
        assert any(answer[3] for answer in run["answers"] if isinstance(answer, list)), run["answers"]


def _own(run: dict[str, Any]) -> None:
    """Each child ran on connections of its own; the parent's are untouched."""
    assert run["failures"] == [] and run["wrong"] == [], run
    assert run["alive"] == run["parent"], run  # the parent's backends live on
    assert all(len(procs) == 1 for procs in run["processes_of"].values()), run["processes_of"]
    assert not set(run["processes_of"]) & set(run["parent"]), run  # no child talks on a parent's socket
    assert len({proc for procs in run["processes_of"].values() for proc in procs}) == 2  # both children answered


def test_without_the_hook_children_share_the_parents_connection(postgres_cluster: PostgresCluster, postgres: str,
                                                                 redis_url: str) -> None:  # noqa: F811
    _shared(_run(postgres_cluster, postgres, redis_url, hook=False, fixup=False))


def test_without_post_fork_gunicorn_workers_share_the_masters_connections(
        postgres_cluster: PostgresCluster, postgres: str, tmp_path: Path) -> None:
    _shared(_gunicorn(postgres_cluster, postgres, tmp_path, hook=False))


def test_with_post_fork_each_gunicorn_worker_has_its_own(postgres_cluster: PostgresCluster, postgres: str,
                                                        tmp_path: Path) -> None:
    _own(_gunicorn(postgres_cluster, postgres, tmp_path, hook=True))


def test_without_the_hook_celerys_fixup_ends_the_parents_backends(postgres_cluster: PostgresCluster, postgres: str,
                                                                   redis_url: str) -> None:  # noqa: F811
    run = _run(postgres_cluster, postgres, redis_url, hook=False, fixup=True)
    assert len(run["alive"]) < len(run["parent"]), run  # the children closed the pool they inherited


@pytest.mark.parametrize("fixup", [True, False], ids=["celery-fixup", "no-celery-fixup"])
def test_with_the_hook_each_child_has_its_own(postgres_cluster: PostgresCluster, postgres: str, redis_url: str,  # noqa: F811
                                              fixup: bool) -> None:
    """With Celery's fixup on (its default) the hook runs first in each child, and the fixup finds
    nothing inherited to close; without it the hook does it all, and hands each task's connection
    back to the pool after the task (``close_old_connections``), as Django does after a request."""
    run = _run(postgres_cluster, postgres, redis_url, hook=True, fixup=fixup)
    _own(run)
    assert not any(answer[3] for answer in run["answers"]), run["answers"]  # no task found the last one's
