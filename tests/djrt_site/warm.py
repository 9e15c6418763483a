"""A warm-up query run in a parent process before it forks (a gunicorn ``--preload`` master, a
Celery worker's main process), as real services do (feature flags, a cache filled from the
database): Django's native pool is opened and left open, and Django's connection keeps one of its
connections."""

from __future__ import annotations


def warm_up() -> list[int]:
    """Query through Django's pool; the backend pids of all the pool's connections."""
    import django
    from django.db import connection

    django.setup()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
    connection.pool.wait(timeout=10)  # the pool's min_size connections are all there
    pids = [conn.info.backend_pid for conn in connection.pool._pool]
    pids.append(connection.connection.info.backend_pid)  # the one Django's connection still holds
    return pids
