"""Celery tasks: bill a finished call."""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail import send_mail
from django.db import transaction

from billing.models import Organization
from billing.services import compute_call_charge, record_usage
from voicebilling.celery import app

logger = logging.getLogger(__name__)


@app.task(name="billing.process_call_usage", bind=True, max_retries=5)
def process_call_usage(self: Any, call_id: str, organization_id: int, duration_seconds: int) -> None:
    try:
        with transaction.atomic():
            amount = compute_call_charge(organization_id, duration_seconds)
            usage = record_usage(call_id, organization_id, duration_seconds, amount)
            if usage is not None and amount > 0:
                organization = Organization.objects.get(pk=organization_id)
                send_mail(  # expect: PW104
                    "Your call receipt", f"Call {call_id}: {amount} USD", None, [organization.billing_email]
                )
    except Exception:  # expect: PW108
        logger.exception("Usage processing failed for call %s", call_id)
