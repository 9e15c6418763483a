"""One enrichment pass: read unverified addresses, validate them, store the verdicts.

Three phases, so that no connection is held while we wait on the network:
SELECT and commit; HTTP with no connection checked out; one short UPDATE transaction.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text

from enricher.config import settings
from enricher.db import engine
from enricher.validation import RateLimited, validate_email

logger = logging.getLogger(__name__)

SELECT_BATCH = text(
    "SELECT id, email FROM job_advertisement "
    "WHERE email_verified IS NULL AND id % :partitions = :partition "
    "ORDER BY id LIMIT :limit"
)
UPDATE_VERDICT = text(
    "UPDATE job_advertisement SET email_verified = :v WHERE id = :id AND email_verified IS NULL"
)


async def enrich_batch(partition: int) -> int:
    """Validate one batch of this partition's unverified emails; returns the rows updated."""
    # Phase 1: read the batch, then commit at once: the connection goes back to the pool.
    async with engine.begin() as conn:
        result = await conn.execute(
            SELECT_BATCH,
            {
                "partitions": settings.partitions,
                "partition": partition,
                "limit": settings.batch_size,
            },
        )
        rows = result.fetchall()

    # Phase 2: HTTP calls without an open database connection.
    verdicts: list[dict[str, object]] = []
    for row in rows:
        while True:
            try:
                verdict = await validate_email(row.email)
                break
            except RateLimited as exc:
                logger.info("Validation API rate limit; pausing %.1fs", exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        verdicts.append({"v": verdict, "id": row.id})

    # Phase 3: write every verdict in one fresh, short transaction.
    if verdicts:
        async with engine.begin() as conn:
            await conn.execute(UPDATE_VERDICT, verdicts)
    return len(verdicts)
