"""Read-only queries."""

from __future__ import annotations

import logging

from billing.models import Plan, Subscription

logger = logging.getLogger(__name__)


def get_active_subscription(organization_id: int) -> Subscription | None:
    """The organization's active subscription, or None when it has none."""
    try:
        return Subscription.objects.filter(organization_id=organization_id, status="active").first()
    except Exception:  # expect: PW101
        logger.warning("Failed to fetch subscription for organization %s", organization_id)
        return None


async def aget_active_subscription(organization_id: int) -> Subscription | None:
    """The same question for async views."""
    try:
        return await Subscription.objects.filter(organization_id=organization_id, status="active").afirst()
    except Exception:  # expect: PW101
        logger.warning("Failed to fetch subscription for organization %s", organization_id)
        return None


def get_plan(plan_id: int) -> Plan:
    """The price list of a plan; raises Plan.DoesNotExist when there is none."""
    return Plan.objects.get(pk=plan_id)
