"""Organizations, their plans and subscriptions, and what each call cost."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=100)
    billing_email = models.EmailField()


class Plan(models.Model):
    name = models.CharField(max_length=50)
    per_minute = models.DecimalField(max_digits=10, decimal_places=4)
    minimum_charge = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))


class Subscription(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT)
    status = models.CharField(max_length=16)
    external_id = models.CharField(max_length=64, blank=True)
    included_seconds_left = models.IntegerField(default=0)
    current_period_end = models.DateTimeField()


class CallUsage(models.Model):
    call_id = models.CharField(max_length=64, unique=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    duration_seconds = models.IntegerField()
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    recorded_at = models.DateTimeField(auto_now_add=True)
