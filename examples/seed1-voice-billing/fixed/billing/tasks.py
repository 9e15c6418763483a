"""Celery tasks. Tasks are synchronous; the billing code is async, hence the bridge.

A prefork child runs one task at a time, so it keeps ONE event loop for its whole life:
asyncpg connections belong to the loop that opened them, and the pool can only reuse them
while that loop is alive.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery.signals import worker_process_shutdown

from billing.celery_app import celery_app
from billing.db import dispose_all_engines, tenant_sessionmaker
from billing.errors import is_transient_db_error
from billing.services import compute_call_charge, record_usage

logger = logging.getLogger(__name__)

T = TypeVar("T")

_worker_loop: asyncio.AbstractEventLoop | None = None


def _get_worker_loop() -> asyncio.AbstractEventLoop:
    global _worker_loop
    if _worker_loop is None or _worker_loop.is_closed():
        _worker_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_worker_loop)
    return _worker_loop


def _run_in_isolated_loop(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def run_async_in_celery(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous Celery task."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # Normal Celery prefork case: no loop is already running.
        return _get_worker_loop().run_until_complete(coro)
    # Defensive fallback: if a loop is already running, isolate the coroutine
    # in another thread instead of nesting event loops.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(_run_in_isolated_loop, coro).result()


@worker_process_shutdown.connect
def _close_pools(**_: Any) -> None:
    run_async_in_celery(dispose_all_engines())


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
    except Exception as exc:
        if is_transient_db_error(exc):
            # The database is unavailable: bill later, never skip the call.
            raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 600))
        logger.exception("Usage processing failed for call %s", call_id)
        raise
