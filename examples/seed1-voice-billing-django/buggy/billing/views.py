"""HTTP API called by the telephony edge before and after every AI phone call."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from billing.selectors import aget_active_subscription, get_active_subscription
from billing.services import cancel_subscription
from billing.tasks import process_call_usage

NO_PLAN = "No active subscription. Please upgrade your plan."


@require_GET
def subscription_status(request: HttpRequest, organization_id: int) -> JsonResponse:
    """A sync view: the organization's plan."""
    subscription = get_active_subscription(organization_id)
    if subscription is None:
        return JsonResponse({"detail": NO_PLAN}, status=402)
    return JsonResponse({
        "plan_id": subscription.plan_id,
        "included_seconds_left": subscription.included_seconds_left,
        "current_period_end": subscription.current_period_end.isoformat(),
    })


async def can_call(request: HttpRequest, organization_id: int) -> JsonResponse:
    """An async view: may this organization place a call now?"""
    if await aget_active_subscription(organization_id) is None:
        return JsonResponse({"detail": NO_PLAN}, status=402)
    return JsonResponse({"allowed": True})


@require_POST
def cancel(request: HttpRequest, organization_id: int) -> JsonResponse:
    cancel_subscription(organization_id)
    return JsonResponse({"cancelled": True})


@require_POST
def call_completed(request: HttpRequest, call_id: str) -> JsonResponse:
    body = json.loads(request.body)
    process_call_usage.delay(call_id, body["organization_id"], body["duration_seconds"])
    return JsonResponse({"queued": True}, status=202)
