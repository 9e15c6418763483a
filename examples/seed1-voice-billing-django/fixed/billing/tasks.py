"""Celery tasks: bill a finished call.

A transient database error fails the task, and ``poolwarden.runtime.celery.install`` (in
``voicebilling.celery``) retries it with backoff: a call is billed late, never skipped. The
receipt is mailed after the commit, with no transaction held during SMTP.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.core.mail import send_mail
from django.db import transaction

from billing.models import Organization
from billing.services import compute_call_charge, record_usage
from voicebilling.celery import app


@app.task(name="billing.process_call_usage", bind=True)
def process_call_usage(self: Any, call_id: str, organization_id: int, duration_seconds: int) -> None:
    with transaction.atomic():
        amount = compute_call_charge(organization_id, duration_seconds)
        usage = record_usage(call_id, organization_id, duration_seconds, amount)
        if usage is not None and amount > 0:
            organization = Organization.objects.get(pk=organization_id)
            transaction.on_commit(partial(
                send_mail, "Your call receipt", f"Call {call_id}: {amount} USD", None, [organization.billing_email]
            ))
