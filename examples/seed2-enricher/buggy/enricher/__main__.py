"""``python -m enricher``: run one partition's daemon until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import httpx

from enricher.batch import enrich_batch
from enricher.config import settings
from enricher.db import engine
from enricher.validation import close_client

logger = logging.getLogger("enricher")


async def run(partition: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("Enricher for partition %s/%s started", partition, settings.partitions)
    try:
        while not stop.is_set():
            try:
                updated = await enrich_batch(partition)
            except httpx.HTTPError as exc:
                # Database errors are not caught here: they crash the daemon and the
                # supervisor restarts it, which is what we want.
                logger.warning("Validation API unavailable (%s); backing off", exc)
                updated = 0
            logger.info("Partition %s: %s addresses verified", partition, updated)
            if updated == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=settings.idle_pause_seconds)
    finally:
        await close_client()
        await engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(settings.partition))


if __name__ == "__main__":
    main()
