"""Client of the external email-validation API (200-1200 ms per call)."""

from __future__ import annotations

import httpx

from enricher.config import settings


class RateLimited(Exception):
    """The API answered 429; wait ``retry_after`` seconds before the next call."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.1f}s")
        self.retry_after = retry_after


_client = httpx.AsyncClient(
    base_url=settings.validation_api_url,
    headers={"Authorization": f"Bearer {settings.validation_api_key}"},
    timeout=httpx.Timeout(5.0),
)


async def validate_email(email: str) -> str:
    """The API's verdict for one address: 'valid', 'invalid' or 'risky'."""
    response = await _client.get("/v2/email", params={"address": email})
    if response.status_code == 429:
        raise RateLimited(float(response.headers.get("Retry-After", "1")))
    response.raise_for_status()
    return str(response.json()["verdict"])


async def close_client() -> None:
    await _client.aclose()
