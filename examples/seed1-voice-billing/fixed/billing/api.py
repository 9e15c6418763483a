"""HTTP API called by the telephony edge before and after every AI phone call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.config import settings
from billing.db import UnknownTenant, dispose_all_engines, tenant_sessionmaker
from billing.errors import is_transient_db_error
from billing.selectors import get_active_subscription
from billing.services import check_call_allowed
from billing.tasks import process_call_usage

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await dispose_all_engines()


app = FastAPI(title="voice-billing", lifespan=lifespan)


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A database outage is a 503 the edge retries, never a "no subscription" 402."""
    if is_transient_db_error(exc):
        logger.warning("Database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "Billing is temporarily unavailable, please retry."},
            headers={"Retry-After": str(settings.retry_after_seconds)},
        )
    logger.error("Database error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": "Internal server error"})


app.add_exception_handler(SQLAlchemyError, database_error_handler)
app.add_exception_handler(ConnectionError, database_error_handler)


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
