"""The queue listener: LISTEN for album changes and drop them from the in-process cache."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import psycopg
from psycopg import sql

from relay.config import settings

logger = logging.getLogger(__name__)

CHANNEL = "album_changed"
RECONNECT_PAUSE_SECONDS = 1.0
MAX_RECONNECT_PAUSE_SECONDS = 15.0


class ListenerUnavailable(RuntimeError):
    """Reconnecting has failed for longer than the reconnect deadline."""


class QueueListener:
    """Holds one dedicated connection; a heartbeat (SELECT 1) proves it is still alive."""

    def __init__(self, dsn: str, on_change: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self._failing_since: float | None = None
        self.connected = False

    async def run(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost.

        Raises ListenerUnavailable when no connection could be made for
        ``listener_reconnect_deadline_seconds``: the health check then fails and the
        machine is replaced, instead of the listener hanging forever.
        """
        loop = asyncio.get_running_loop()
        pause = RECONNECT_PAUSE_SECONDS
        while True:
            try:
                await self._listen()
            except (psycopg.OperationalError, asyncio.TimeoutError) as exc:
                self.connected = False
                now = loop.time()
                if self._failing_since is None:
                    self._failing_since = now
                    pause = RECONNECT_PAUSE_SECONDS
                if now - self._failing_since >= settings.listener_reconnect_deadline_seconds:
                    raise ListenerUnavailable(
                        f"queue listener could not reconnect for {now - self._failing_since:.0f}s"
                    ) from exc
                logger.warning("queue listener connection lost, attempting reconnect: %s", exc)
                await asyncio.sleep(pause + random.uniform(0, pause / 2))
                pause = min(pause * 2, MAX_RECONNECT_PAUSE_SECONDS)
                continue

    async def _listen(self) -> None:
        # connect_timeout bounds each address libpq tries; wait_for bounds the whole attempt.
        async with await asyncio.wait_for(
            psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=settings.connect_timeout_seconds
            ),
            timeout=settings.connect_deadline_seconds,
        ) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self.connected = True
            self._failing_since = None
            logger.info("queue service connected to database and listening")
            while True:
                async for notify in conn.notifies(timeout=settings.heartbeat_interval_seconds):
                    self._on_change(notify.payload)
                await asyncio.wait_for(
                    conn.execute("SELECT 1"), timeout=settings.heartbeat_timeout_seconds
                )
