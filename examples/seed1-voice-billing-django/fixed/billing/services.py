"""Business rules: what a finished call costs, recording it, cancelling a subscription."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction

from billing.models import CallUsage, Plan, Subscription
from billing.selectors import get_active_subscription, get_plan

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


def _price(plan: Plan, duration_seconds: int, included_seconds_left: int) -> Decimal:
    billable = max(0, duration_seconds - included_seconds_left)
    if billable == 0:
        return Decimal("0")
    amount = plan.per_minute * Decimal(billable) / Decimal(60)
    return max(amount, plan.minimum_charge).quantize(CENT, rounding=ROUND_HALF_UP)


def compute_call_charge(organization_id: int, duration_seconds: int) -> Decimal:
    """What a finished call costs; zero when the organization has no active plan. A database
    failure raises (the task retries it): it is never a free call."""
    subscription = get_active_subscription(organization_id)
    if subscription is None:
        return Decimal("0")
    plan = get_plan(subscription.plan_id)
    return _price(plan, duration_seconds, subscription.included_seconds_left)


def record_usage(call_id: str, organization_id: int, duration_seconds: int, amount: Decimal) -> CallUsage | None:
    """Store the usage row; None when this call was already billed (task redelivery)."""
    try:
        with transaction.atomic():
            return CallUsage.objects.create(call_id=call_id, organization_id=organization_id,
                                            duration_seconds=duration_seconds, amount=amount)
    except IntegrityError:
        logger.info("Usage for call %s already recorded; skipping", call_id)
        return None


def cancel_subscription(organization_id: int) -> None:
    """Cancel at the payment provider with no transaction open, then here in one short UPDATE."""
    subscription = Subscription.objects.get(organization_id=organization_id, status="active")
    httpx.post(f"{settings.PAYMENTS_API_URL}/subscriptions/{subscription.external_id}/cancel", timeout=10)
    Subscription.objects.filter(pk=subscription.pk, status="active").update(status="cancelled")
