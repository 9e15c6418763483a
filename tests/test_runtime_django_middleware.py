"""TransientErrorMiddleware on a real Django project served for real (gunicorn/WSGI, uvicorn/ASGI).

PostgreSQL is made to refuse for real (``pg_saturate``: every slot taken; ``pg_outage``: the
database refuses connections): a view that needs the database answers 503 + Retry-After, whether
it is sync, async or a DRF APIView, with ``ATOMIC_REQUESTS`` on or off, or the query is a middleware's;
a real bug stays a 500.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from poolwarden.testing.cluster import PostgresCluster

from .django_servers import serve

#: a sync view, an async view, a DRF APIView, and a view behind a middleware that queries before / after it
PATHS = ("one", "one-async", "drf", "lookup", "lookup-after")


@pytest.mark.parametrize("atomic", ["0", "1"], ids=["autocommit", "atomic-requests"])
@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_outage_is_503_and_a_bug_stays_500(kind: str, atomic: str, postgres: str, postgres_cluster: PostgresCluster,
                                           pg_saturate: Any, pg_outage: Any) -> None:
    env = {"DJRT_DSN": postgres, "DJRT_ATOMIC": atomic}
    with serve(kind, env) as url, httpx.Client(base_url=url, timeout=30) as client:
        for path in PATHS:
            assert client.get(f"/{path}").status_code == 200, path
        with pg_saturate(postgres_cluster):
            refused = {path: client.get(f"/{path}") for path in PATHS}
        with pg_outage(postgres_cluster, mode="terminate"):
            closed = {path: client.get(f"/{path}") for path in PATHS}
        for path, answer in [*refused.items(), *closed.items()]:
            assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
            assert answer.headers["retry-after"] == "5"
            assert answer.json()["kind"] == "connection"
        for path in PATHS:  # the server has slots again: the same views answer
            assert client.get(f"/{path}").status_code == 200, path
        for path in ("bug", "crash"):  # a real bug (a failing query, or no query at all) is Django's 500
            answer = client.get(f"/{path}")
            assert answer.status_code == 500, (path, answer.status_code)
            assert "retry-after" not in answer.headers
