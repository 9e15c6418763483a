"""Read-only queries against a tenant billing database."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import PlanSubscription, RateCard

logger = logging.getLogger(__name__)


async def get_active_subscription(
    db: AsyncSession, organization_id: int
) -> PlanSubscription | None:
    """The organization's active subscription, or None when it has none."""
    try:
        result = await db.execute(
            select(PlanSubscription).where(
                PlanSubscription.organization_id == organization_id,
                PlanSubscription.status == "active",
            )
        )
        return result.scalar_one_or_none()
    except Exception:  # expect: PW101
        logger.warning("Failed to fetch subscription for organization %s", organization_id)
        return None


async def get_rate_card(db: AsyncSession, plan_id: int) -> RateCard:
    """The price list of a plan; raises NoResultFound when the plan has none."""
    result = await db.execute(select(RateCard).where(RateCard.plan_id == plan_id))
    return result.scalar_one()
