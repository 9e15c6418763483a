"""HTTP API called by the telephony edge before and after every AI phone call."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from billing.db import UnknownTenant, tenant_sessionmaker
from billing.selectors import get_active_subscription
from billing.services import check_call_allowed
from billing.tasks import process_call_usage

app = FastAPI(title="voice-billing")


class AuthorizeCall(BaseModel):
    organization_id: int


class CallCompleted(BaseModel):
    organization_id: int
    duration_seconds: int


async def tenant_db(x_tenant_id: str = Header(...)) -> AsyncIterator[AsyncSession]:
    try:
        session_factory = await tenant_sessionmaker(x_tenant_id)
    except UnknownTenant:
        raise HTTPException(status_code=404, detail="Unknown tenant") from None
    async with session_factory() as session:
        yield session


@app.post("/calls/authorize")
async def authorize_call(body: AuthorizeCall, db: AsyncSession = Depends(tenant_db)) -> dict:
    if not await check_call_allowed(db, body.organization_id):
        raise HTTPException(
            status_code=402, detail="No active subscription. Please upgrade your plan."
        )
    return {"allowed": True}


@app.post("/calls/{call_id}/completed", status_code=202)
async def call_completed(
    call_id: str, body: CallCompleted, x_tenant_id: str = Header(...)
) -> dict:
    process_call_usage.delay(x_tenant_id, call_id, body.organization_id, body.duration_seconds)
    return {"queued": True}


@app.get("/organizations/{organization_id}/subscription")
async def subscription_status(organization_id: int, db: AsyncSession = Depends(tenant_db)) -> dict:
    subscription = await get_active_subscription(db, organization_id)
    if subscription is None:
        raise HTTPException(status_code=404, detail="No active subscription")
    return {
        "plan_id": subscription.plan_id,
        "included_seconds_left": subscription.included_seconds_left,
        "current_period_end": subscription.current_period_end.isoformat(),
    }
