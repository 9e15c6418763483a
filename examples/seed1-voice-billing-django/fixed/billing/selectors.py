"""Read-only queries. A database that cannot answer raises: "could not check" is never "no"
(the middleware answers it with 503 + Retry-After)."""

from __future__ import annotations

from billing.models import Plan, Subscription


def get_active_subscription(organization_id: int) -> Subscription | None:
    """The organization's active subscription, or None when it has none."""
    return Subscription.objects.filter(organization_id=organization_id, status="active").first()


async def aget_active_subscription(organization_id: int) -> Subscription | None:
    """The same question for async views."""
    return await Subscription.objects.filter(organization_id=organization_id, status="active").afirst()


def get_plan(plan_id: int) -> Plan:
    """The price list of a plan; raises Plan.DoesNotExist when there is none."""
    return Plan.objects.get(pk=plan_id)
