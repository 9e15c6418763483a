"""Answer an outage with 503 + Retry-After, never with a 200 or a business "no".

:class:`TransientErrorMiddleware` wraps any ASGI app (FastAPI, Starlette…): an exception that
:func:`poolwarden.runtime.errors.is_transient` recognises, escaping the app before a response
started, becomes ``503 Service Unavailable`` with ``Retry-After`` and a small JSON body; every
other exception passes through untouched (your 500 handling stays yours). :func:`install` adds
it to a FastAPI/Starlette app.

An AMBIGUOUS error (:class:`~poolwarden.runtime.errors.ErrorKind`: the connection broke under a
COMMIT or an autocommit write, a statement timed out) is still a 503 — it is an outage, never an
answer — but without ``Retry-After`` and with ``"kind": "ambiguous"`` and a body that says the
request may have taken effect: a client that retries blindly could apply a write twice; it should
check first, or retry with the same idempotency key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from poolwarden.runtime.errors import ErrorKind, classify, is_transient

__all__ = ["TransientErrorMiddleware", "install"]

log = logging.getLogger("poolwarden.runtime.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TransientErrorMiddleware:
    """ASGI middleware: transient database errors become 503 with ``Retry-After: retry_after``."""

    def __init__(self, app: ASGIApp, retry_after: int = 5) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not is_transient(exc):
                raise
            kind = classify(exc)
            log.warning("answering 503: transient database error (%s) on %s", kind.value, scope.get("path"),
                        exc_info=exc)
            headers = [(b"content-type", b"application/json")]
            if kind is ErrorKind.AMBIGUOUS:
                detail = "The database connection failed while this request ran: it may or may not have taken effect."
            else:
                detail = "The database is unavailable; retry later."
                headers.append((b"retry-after", str(self.retry_after).encode()))
            body = json.dumps({"detail": detail, "kind": kind.value}).encode()
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})


def install(app: Any, *, retry_after: int = 5) -> None:
    """Add :class:`TransientErrorMiddleware` to a FastAPI / Starlette app."""
    app.add_middleware(TransientErrorMiddleware, retry_after=retry_after)
