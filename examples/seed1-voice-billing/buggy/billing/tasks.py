"""Celery tasks. Tasks are synchronous; the billing code is async, hence the bridge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from billing.celery_app import celery_app
from billing.db import tenant_sessionmaker
from billing.services import compute_call_charge, record_usage

logger = logging.getLogger(__name__)

T = TypeVar("T")


def run_async_in_celery(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous Celery task."""
    loop = asyncio.new_event_loop()  # expect: PW102
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


async def _process_call_usage(
    tenant_id: str, call_id: str, organization_id: int, duration_seconds: int
) -> bool:
    session_factory = await tenant_sessionmaker(tenant_id)
    async with session_factory() as session:
        amount = await compute_call_charge(session, organization_id, duration_seconds)
        recorded = await record_usage(session, call_id, organization_id, duration_seconds, amount)
        await session.commit()
    logger.info("Call %s billed %s (new row: %s)", call_id, amount, recorded)
    return recorded


@celery_app.task(name="billing.process_call_usage", bind=True, max_retries=5)
def process_call_usage(
    self: Any, tenant_id: str, call_id: str, organization_id: int, duration_seconds: int
) -> None:
    try:
        run_async_in_celery(
            _process_call_usage(tenant_id, call_id, organization_id, duration_seconds)
        )
    except Exception:  # expect: PW108
        logger.exception("Usage processing failed for call %s", call_id)
