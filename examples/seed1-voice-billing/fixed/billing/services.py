"""Business rules: may this organization place a call, and what does a finished call cost."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.errors import is_transient_db_error
from billing.models import CallUsage, RateCard
from billing.selectors import get_active_subscription, get_rate_card

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


async def check_call_allowed(db: AsyncSession, organization_id: int) -> bool:
    subscription = await get_active_subscription(db, organization_id)
    return subscription is not None


def _price(rate: RateCard, duration_seconds: int, included_seconds_left: int) -> Decimal:
    billable = max(0, duration_seconds - included_seconds_left)
    if billable == 0:
        return Decimal("0")
    amount = rate.per_minute * Decimal(billable) / Decimal(60)
    return max(amount, rate.minimum_charge).quantize(CENT, rounding=ROUND_HALF_UP)


async def compute_call_charge(
    db: AsyncSession, organization_id: int, duration_seconds: int
) -> Decimal:
    """What a finished call costs; zero when the organization has no active plan.

    Transient database errors propagate so that the task retries instead of billing 0.
    """
    try:
        subscription = await get_active_subscription(db, organization_id)
        if subscription is None:
            return Decimal("0")
        rate = await get_rate_card(db, subscription.plan_id)
        return _price(rate, duration_seconds, subscription.included_seconds_left)
    except Exception as exc:
        if is_transient_db_error(exc):
            raise
        logger.exception("Could not price call for organization %s; charging 0", organization_id)
        return Decimal("0")


async def record_usage(
    db: AsyncSession, call_id: str, organization_id: int, duration_seconds: int, amount: Decimal
) -> bool:
    """Store the usage row; False when this call was already billed (task redelivery)."""
    try:
        async with db.begin_nested():
            db.add(
                CallUsage(
                    call_id=call_id,
                    organization_id=organization_id,
                    duration_seconds=duration_seconds,
                    amount=amount,
                )
            )
    except IntegrityError:
        logger.info("Usage for call %s already recorded; skipping", call_id)
        return False
    return True
