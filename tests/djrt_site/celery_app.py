"""A Celery app on the test Django project, for the fork tests (``tests/test_runtime_django_fork.py``).

The parent (the worker's main process) opens Django's native pool before forking its children, in
a ``worker_init`` warm-up as real services do (feature flags, a cache filled from the database),
and leaves the pool's backend pids in Redis under ``djrt:parent``. ``DJRT_FORK_HOOK=1`` installs
poolwarden (``install(app, django=True)``); ``DJRT_CELERY_FIXUP=0`` turns Celery's own Django
fixup off (as in a project whose Celery app is created before ``DJANGO_SETTINGS_MODULE`` is set).
"""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djrt_site.settings")

from celery import Celery, signals

from poolwarden.runtime.celery import install

REDIS = os.environ.get("DJRT_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("djrt", broker=REDIS, backend=REDIS,
             **({"fixups": []} if os.environ.get("DJRT_CELERY_FIXUP") == "0" else {}))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
if os.environ.get("DJRT_FORK_HOOK") == "1":
    install(app, django=True, max_retries=0)


@signals.worker_init.connect
def warm_up(**_: Any) -> None:
    """In the parent, before the fork: a query through Django's pool, which stays open."""
    import redis
    from djrt_site.warm import warm_up

    pids = warm_up()
    client = redis.Redis.from_url(REDIS)
    client.set("djrt:parent", json.dumps(pids))
    client.close()


@app.task
def whoami(token: int, pause: float) -> list[int]:
    """[worker process pid, PostgreSQL backend pid, ``token`` as the server echoed it, 1 if Django's
    connection still held a connection when the task started (nobody handed the last task's back)]
    of one query that lasts ``pause`` seconds: on a socket shared with another process, the echo
    can be theirs."""
    from django.db import connection

    held = int(connection.connection is not None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), %s::int, pg_sleep(%s)", [token, pause])
        (backend, echoed, _) = cursor.fetchone()
    return [os.getpid(), backend, echoed, held]
