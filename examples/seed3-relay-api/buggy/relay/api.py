"""HTTP API. Route handlers are plain ``def``: FastAPI runs them in its thread pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import Cookie, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import text

from relay.config import settings
from relay.db import engine, moderation_pool
from relay.listener import QueueListener

album_cache: dict[str, dict[str, Any]] = {}


def _forget_album(album_id: str) -> None:
    album_cache.pop(album_id, None)


listener = QueueListener(settings.database_url, on_change=_forget_album)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(listener.run(), name="queue-listener")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    moderation_pool.close()
    engine.dispose()


app = FastAPI(title="relay-api", lifespan=lifespan)


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
    with psycopg.connect(settings.database_url) as conn:  # expect: PW106
        conn.execute("SELECT 1")
    return {"database": "ok"}
