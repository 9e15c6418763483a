"""Django's connections and native pools across ``fork()``: Celery prefork, gunicorn ``--preload``.

A process that touched the database before forking (a query at import, in ``AppConfig.ready()``,
in a ``worker_init`` warm-up) hands every child a copy of Django's connection and, with Django
5.1's native pool (``DATABASES[...]["OPTIONS"]["pool"]``), of the ``psycopg_pool.ConnectionPool``
behind ``connection.pool``: its idle connections are the parent's sockets, and its worker threads
did not survive the fork. A child that uses them talks on a socket that its parent and its
siblings use too; a child that *closes* them (``pool.close()``, ``connection.close()``) sends
PostgreSQL's Terminate message on those sockets and ends the parent's backends.

:func:`reset_after_fork`, called first thing in each child, forgets all of it without a byte on
the wire: the child's file descriptors of the inherited sockets are closed (the parent's stay
open), Django's connection objects are emptied, the inherited pools are dropped from Django's
registry (kept referenced, never closed, so no finaliser touches them), and the child's first
query opens a pool of its own. (psycopg 3 never finalises a connection in another process than
the one that opened it; psycopg2's finaliser does, and closing the descriptor first keeps its
Terminate off the parent's socket, as Celery's own Django fixup does.) Wire it with:

* Celery: ``poolwarden.runtime.celery.install(app, django=True)`` (``worker_process_init``; also
  :func:`close_old_connections` around each task, as Django does around each request);
* gunicorn: ``post_fork = poolwarden.runtime.django.fork.post_fork`` in ``gunicorn.conf.py``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["close_old_connections", "post_fork", "reset_after_fork"]

log = logging.getLogger("poolwarden.runtime.django")

#: pools inherited from a parent, dropped from Django's registry: kept alive so that no finaliser
#: ever runs on them in this process (their sockets belong to the parent)
_INHERITED: list[Any] = []


def _close_fd(conn: Any) -> bool:
    """Close this process's descriptor of a connection's socket (psycopg 3: ``pgconn.socket``;
    psycopg2: ``fileno()``), nothing else: no Terminate message, no libpq call that could write.
    False when there was nothing to close."""
    pgconn = getattr(conn, "pgconn", None)
    try:
        fd = int(pgconn.socket) if pgconn is not None else int(conn.fileno())
    except Exception:  # a connection libpq already considers closed has no socket
        return False
    if fd < 0:
        return False
    try:
        os.close(fd)
    except OSError:
        return False
    return True


def _forget_pool(pool: Any) -> int:
    """Close this process's descriptors of ``pool``'s idle connections; keep the pool referenced."""
    _INHERITED.append(pool)
    idle = list(getattr(pool, "_pool", ()))  # psycopg_pool's deque of idle connections
    return sum(_close_fd(conn) for conn in idle)


def reset_after_fork() -> int:
    """In a freshly forked child, forget every Django connection and native pool inherited from
    the parent, with no network I/O on the parent's sockets. Returns how many inherited sockets
    this process let go of. Safe to call when nothing was inherited (returns 0), and when Django
    is not configured yet (does nothing)."""
    from django.conf import settings  # type: ignore[import-untyped, unused-ignore]

    if not settings.configured:
        return 0
    from django.db import connections  # type: ignore[import-untyped, unused-ignore]

    released = 0
    registries: dict[int, dict[str, Any]] = {}
    for conn in connections.all():
        raw = conn.connection
        if raw is not None:
            released += _close_fd(raw)
            _INHERITED.append(raw)
            conn.run_on_commit = []  # what Django's close() does, minus the I/O
            if conn.in_atomic_block:
                conn.closed_in_transaction = True
                conn.needs_rollback = True
            else:
                conn.connection = None
        pools = getattr(type(conn), "_connection_pools", None)  # the postgresql backend's, per class
        if isinstance(pools, dict):
            registries[id(pools)] = pools
    for pools in registries.values():
        for alias in list(pools):
            released += _forget_pool(pools.pop(alias))
    if released:
        log.debug("process %d let go of %d database socket(s) inherited from its parent", os.getpid(), released)
    return released


def post_fork(server: Any = None, worker: Any = None) -> None:
    """gunicorn's ``post_fork(server, worker)`` hook: :func:`reset_after_fork` in each worker.

    In ``gunicorn.conf.py``: ``from poolwarden.runtime.django.fork import post_fork``. Needed with
    ``--preload`` (the app, and whatever it connected at import, is loaded in the master)."""
    reset_after_fork()


def close_old_connections(sender: Any = None, **_: Any) -> None:
    """Django's ``close_old_connections`` for a task, as Django runs it around each request: a
    connection past ``CONN_MAX_AGE``, broken, or (with the native pool) simply used, is closed or
    handed back to the pool. A Celery ``task_prerun`` / ``task_postrun`` receiver; eager tasks
    (run inline by the caller) are left alone, their connection is the caller's."""
    request = getattr(sender, "request", None)
    if getattr(request, "is_eager", False):
        return
    from django.db import close_old_connections as close  # type: ignore[import-untyped, unused-ignore]

    close()
