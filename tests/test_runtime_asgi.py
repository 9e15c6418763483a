"""runtime.asgi on a real FastAPI app served by uvicorn, against a real saturated server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy
import uvicorn
from fastapi import FastAPI

from poolwarden.runtime import asgi
from poolwarden.runtime.engine import create_async_engine
from poolwarden.testing.cluster import PostgresCluster, free_port


def _app(dsn: str) -> FastAPI:
    app = FastAPI()
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"), application_name="pw-asgi")

    @app.get("/subscription/{org}")
    async def subscription(org: int) -> dict[str, Any]:
        async with engine.connect() as conn:
            plan = (await conn.execute(sqlalchemy.text("SELECT 'pro' WHERE :org > 0"), {"org": org})).scalar()
        return {"org": org, "plan": plan}

    @app.post("/charge/{org}")
    async def charge(org: int) -> dict[str, Any]:
        """An autocommit write whose connection the server ends mid-statement (a lost write)."""
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sqlalchemy.text("UPDATE pw_asgi_ledger SET n = n + 1 WHERE org = :org "
                                               "AND pg_terminate_backend(pg_backend_pid())"), {"org": org})
        return {"org": org}

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("not a database problem")

    app.router.on_shutdown.append(engine.dispose)
    asgi.install(app, retry_after=7)
    return app


@pytest.fixture
def server(postgres_cluster: PostgresCluster) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(_app(postgres_cluster.dsn()), host="127.0.0.1", port=port, log_level="error",
                            lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run)
    thread.start()
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(200):  # wait for the listener (bounded)
                try:
                    client.get(f"http://127.0.0.1:{port}/docs")
                    break
                except httpx.TransportError:
                    threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def test_saturated_server_answers_503_never_200(server: str, postgres_cluster: PostgresCluster,
                                                pg_saturate: Any, pg_outage: Any) -> None:
    with httpx.Client(timeout=30) as client:
        with pg_saturate(postgres_cluster):  # the app's pool is still empty: it must connect
            outage = client.get(f"{server}/subscription/1")
        assert outage.status_code == 503
        assert outage.headers["retry-after"] == "7"
        assert outage.json()["kind"] == "connection"
        ok = client.get(f"{server}/subscription/1")  # recovered once the server has slots again
        assert ok.status_code == 200 and ok.json() == {"org": 1, "plan": "pro"}
        with pg_outage(postgres_cluster, mode="terminate"), pg_saturate(postgres_cluster):
            # the pooled connection was terminated and no new one can be made: pre-ping finds it
            # dead, and reconnecting is refused
            again = client.get(f"{server}/subscription/2")
        assert again.status_code == 503


def test_other_errors_stay_500(server: str) -> None:
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{server}/boom").status_code == 500


def test_a_write_lost_mid_flight_answers_503_without_retry_after(server: str,
                                                                  postgres_cluster: PostgresCluster) -> None:
    """AMBIGUOUS: still an outage (503, never 200 or a business answer), but no ``Retry-After``
    inviting a blind retry of a write that may have happened."""
    with postgres_cluster.admin() as admin:
        admin.execute("CREATE TABLE pw_asgi_ledger (org int PRIMARY KEY, n int)")  # type: ignore[attr-defined]
        admin.execute("INSERT INTO pw_asgi_ledger VALUES (1, 0)")  # type: ignore[attr-defined]
    try:
        with httpx.Client(timeout=30) as client:
            lost = client.post(f"{server}/charge/1")
            assert lost.status_code == 503
            assert "retry-after" not in lost.headers
            assert lost.json()["kind"] == "ambiguous" and "may or may not" in lost.json()["detail"]
            assert client.get(f"{server}/subscription/1").status_code == 200  # the pool recovered
    finally:
        with postgres_cluster.admin() as admin:
            admin.execute("DROP TABLE pw_asgi_ledger")  # type: ignore[attr-defined]
