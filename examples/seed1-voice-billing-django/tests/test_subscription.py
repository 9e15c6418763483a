"""Seed 1's questions on a real PostgreSQL: a plan, no plan, a billed call, and a server that is full.

The saturation tests are the ones that would have caught seed 1: when PostgreSQL refuses
connections ("too many clients already"), the answer must be an error (503 at the API, a failed task
that the worker retries), never "no subscription" and never a billing run quietly dropped.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from billing.models import CallUsage, Organization, Plan, Subscription
from billing.selectors import get_active_subscription
from billing.tasks import process_call_usage
from poolwarden.runtime.errors import is_transient


@pytest.fixture
def acme(db: None) -> Organization:
    organization = Organization.objects.create(name="Acme Calls", billing_email="ap@acme.example")
    plan = Plan.objects.create(name="Starter", per_minute=Decimal("0.04"), minimum_charge=Decimal("0.01"))
    Subscription.objects.create(organization=organization, plan=plan, status="active", included_seconds_left=600,
                                current_period_end=datetime(2026, 12, 31, tzinfo=timezone.utc))
    return organization


def test_an_organization_with_a_plan_may_call(acme: Organization, client) -> None:
    assert get_active_subscription(acme.pk) is not None
    response = client.get(f"/organizations/{acme.pk}/subscription")
    assert response.status_code == 200 and response.json()["included_seconds_left"] == 600


def test_an_organization_without_a_plan_is_asked_to_upgrade(db: None, client) -> None:
    organization = Organization.objects.create(name="Free Rider", billing_email="x@free.example")
    assert get_active_subscription(organization.pk) is None
    assert client.get(f"/organizations/{organization.pk}/subscription").status_code == 402


def test_a_finished_call_is_billed_once_and_receipted(acme: Organization, mailoutbox,
                                                      django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        process_call_usage("call-1", acme.pk, 900)  # 600 s included, 300 s at 0.04 a minute
        process_call_usage("call-1", acme.pk, 900)  # redelivered: billed once
    assert [(u.call_id, u.amount) for u in CallUsage.objects.all()] == [("call-1", Decimal("0.2"))]
    assert [m.to for m in mailoutbox] == [["ap@acme.example"]]


@pytest.mark.django_db(transaction=True)
def test_a_full_server_does_not_lose_a_billing_run(acme: Organization, pg_saturate, postgres_cluster) -> None:
    connection.close()
    with pg_saturate(postgres_cluster):
        try:
            process_call_usage("call-2", acme.pk, 900)
        except OperationalError as exc:
            assert is_transient(exc), exc  # a worker retries it (poolwarden.runtime.celery.install)
        else:
            pytest.fail("PostgreSQL refused the connection and process_call_usage() returned: the call is never "
                        "billed and nothing will retry it (seed 1's lost usage record)")
    assert not CallUsage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_full_server_is_not_a_missing_subscription(acme: Organization, client, pg_saturate,
                                                     postgres_cluster) -> None:
    connection.close()  # the next query connects, as a fresh worker would
    with pg_saturate(postgres_cluster):
        try:
            answer = get_active_subscription(acme.pk)
        except OperationalError as exc:
            assert is_transient(exc), exc  # "too many clients already": try again later
        else:
            pytest.fail(f"PostgreSQL refused the connection and get_active_subscription() answered {answer!r}: "
                        f"'no subscription' for an organization that has one (seed 1's lie)")
        response = client.get(f"/organizations/{acme.pk}/subscription")
    assert response.status_code == 503, response.content  # not 402 "please upgrade"
    assert response["Retry-After"]
