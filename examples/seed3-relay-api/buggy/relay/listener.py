"""The queue listener: LISTEN for album changes and drop them from the in-process cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from psycopg import sql

from relay.config import settings

logger = logging.getLogger(__name__)

CHANNEL = "album_changed"
RECONNECT_PAUSE_SECONDS = 1.0


class QueueListener:
    """Holds one dedicated connection; a heartbeat (SELECT 1) proves it is still alive."""

    def __init__(self, dsn: str, on_change: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._on_change = on_change
        self.connected = False

    async def run(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost."""
        while True:
            try:
                await self._listen()
            except (psycopg.OperationalError, asyncio.TimeoutError) as exc:
                self.connected = False
                logger.warning("queue listener connection lost, attempting reconnect: %s", exc)
                await asyncio.sleep(RECONNECT_PAUSE_SECONDS)
                continue

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(  # expect: PW106
            self._dsn, autocommit=True
        ) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self.connected = True
            logger.info("queue service connected to database and listening")
            while True:
                async for notify in conn.notifies(timeout=settings.heartbeat_interval_seconds):
                    self._on_change(notify.payload)
                await asyncio.wait_for(
                    conn.execute("SELECT 1"), timeout=settings.heartbeat_timeout_seconds
                )
