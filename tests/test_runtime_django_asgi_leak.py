"""Django ticket 33497, reproduced for real: persistent connections (``CONN_MAX_AGE=60``) under ASGI.

Under uvicorn, each request to a sync view runs on a thread of its own, used once; the connection
Django keeps "for reuse" belongs to that thread and is never reused nor closed: every request opens
a new backend, and the old ones pile up in ``pg_stat_activity``, idle, until Python's cyclic
garbage collector happens to free their connection objects (measured here: up to 7 idle backends
for one client making requests one at a time, falling back when a collection runs; with clients
in parallel, more — enough to fill a server, as in the issue). ``CONN_MAX_AGE=0`` (Django's advice for ASGI) or
the native pool (``OPTIONS["pool"]``) keeps them bounded. Each case runs on its own database of
the throwaway cluster and stops its server, so pg_stat_activity is left as it was found.
"""

from __future__ import annotations

import httpx
import pytest

from poolwarden.testing.cluster import PostgresCluster

from .django_servers import serve
from .test_runtime_celery import _backends

REQUESTS = 30
POOL = 3
PILED_UP = 5  # idle backends seen at once, at least, with CONN_MAX_AGE=60 (7 measured)


def _after_requests(cluster: PostgresCluster, postgres: str, app: str, **settings: str) -> tuple[int, set[int]]:
    """Serve the project under uvicorn with ``settings``, make :data:`REQUESTS` requests one after
    the other; the most backends of the app seen after a request, and the backend pids that answered."""
    env = {"DJRT_DSN": postgres, "DJRT_APP": app, **settings}
    with serve("uvicorn", env) as url, httpx.Client(base_url=url, timeout=30) as client:
        pids, peak = set(), 0
        for _ in range(REQUESTS):
            answer = client.get("/one")
            assert answer.status_code == 200, answer.text[:300]
            pids.add(answer.json()["backend"])
            peak = max(peak, _backends(cluster, app))  # between requests: every one of them idle
        return peak, pids


def test_conn_max_age_under_asgi_piles_up_connections(postgres_cluster: PostgresCluster, postgres: str) -> None:
    peak, pids = _after_requests(postgres_cluster, postgres, "djrt-leak", DJRT_CONN_MAX_AGE="60")
    assert len(pids) >= REQUESTS - 1, pids  # "persistent" connections that no request reuses: one per request
    assert peak >= PILED_UP, peak  # ... and that stay open, idle, after their request


@pytest.mark.parametrize("settings", [{"DJRT_CONN_MAX_AGE": "0"}, {"DJRT_POOL": str(POOL)}],
                         ids=["conn-max-age-0", "native-pool"])
def test_the_fix_keeps_them_bounded(postgres_cluster: PostgresCluster, postgres: str, settings: dict[str, str]) -> None:
    peak, pids = _after_requests(postgres_cluster, postgres, "djrt-fixed", **settings)
    if "DJRT_POOL" in settings:  # the pool's connections serve every request, and stay (bounded)
        assert len(pids) <= POOL and peak <= POOL, (pids, peak)
    else:  # one connection per request, closed with it (its close may still be on its way: 1)
        assert peak <= 1, peak
