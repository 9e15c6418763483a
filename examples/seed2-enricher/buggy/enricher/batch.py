"""One enrichment pass: read unverified addresses, validate them, store the verdicts."""

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
        for row in rows:
            while True:
                try:
                    verdict = await validate_email(row.email)  # expect: PW104
                    break
                except RateLimited as exc:
                    logger.info("Validation API rate limit; pausing %.1fs", exc.retry_after)
                    await asyncio.sleep(exc.retry_after)  # expect: PW104
            await conn.execute(UPDATE_VERDICT, {"v": verdict, "id": row.id})
    return len(rows)
