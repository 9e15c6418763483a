"""HTTP API. Route handlers are plain ``def``: FastAPI runs them in its thread pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import Cookie, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from sqlalchemy import text
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.exc import TimeoutError as SAPoolTimeout

from relay.config import settings
from relay.db import engine, moderation_pool
from relay.listener import ListenerUnavailable, QueueListener

album_cache: dict[str, dict[str, Any]] = {}


def _forget_album(album_id: str) -> None:
    album_cache.pop(album_id, None)


listener = QueueListener(settings.database_url, on_change=_forget_album)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    moderation_pool.open(wait=True, timeout=settings.connect_deadline_seconds)
    task = asyncio.create_task(listener.run(), name="queue-listener")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ListenerUnavailable):
        await task
    moderation_pool.close()
    engine.dispose()


app = FastAPI(title="relay-api", lifespan=lifespan)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Pool exhausted or database unreachable: fail fast with 503, the client retries."""
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable, retry shortly"},
        headers={"Retry-After": "5"},
    )


for _exc_type in (SAPoolTimeout, SAOperationalError, PoolTimeout, psycopg.OperationalError):
    app.add_exception_handler(_exc_type, database_unavailable)


@app.get("/albums/{album_id}")
def get_album(album_id: str) -> dict[str, Any]:
    album = album_cache.get(album_id)
    if album is None:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, title, artist_did, track_count FROM albums WHERE id = :id"),
                {"id": album_id},
            ).mappings().first()
        if row is None:
            raise HTTPException(status_code=404, detail="album not found")
        album = album_cache[album_id] = dict(row)
    return album


@app.get("/auth/me")
def auth_me(session_id: str = Cookie(...)) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT u.did, u.handle FROM user_sessions s JOIN users u ON u.did = s.did "
                "WHERE s.id = :sid AND s.expires_at > now()"
            ),
            {"sid": session_id},
        ).mappings().first()
    if row is None:
        raise HTTPException(status_code=401, detail="not signed in")
    return dict(row)


@app.get("/moderation/queue")
def moderation_queue(limit: int = 20) -> list[dict[str, Any]]:
    with moderation_pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, track_id, reason FROM moderation_flags "
            "WHERE resolved_at IS NULL ORDER BY created_at LIMIT %s",
            (limit,),
        ).fetchall()
    return [{"id": r[0], "track_id": r[1], "reason": r[2]} for r in rows]


@app.get("/healthz")
def healthz() -> JSONResponse:
    ok = listener.connected
    return JSONResponse(status_code=200 if ok else 503, content={"queue_listener": ok})


@app.get("/healthz/db")
def database_health() -> dict[str, str]:
    # A fresh connection, so the check does not depend on the pools' state.
    with psycopg.connect(
        settings.database_url, connect_timeout=settings.connect_timeout_seconds
    ) as conn:
        conn.execute("SELECT 1")
    return {"database": "ok"}
