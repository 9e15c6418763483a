"""Tables of a tenant billing database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PlanSubscription(Base):
    __tablename__ = "plan_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(index=True)
    plan_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    included_seconds_left: Mapped[int] = mapped_column(default=0)
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RateCard(Base):
    __tablename__ = "rate_cards"

    plan_id: Mapped[int] = mapped_column(primary_key=True)
    per_minute: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    minimum_charge: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("0"))


class CallUsage(Base):
    __tablename__ = "call_usage"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[int] = mapped_column(index=True)
    duration_seconds: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
