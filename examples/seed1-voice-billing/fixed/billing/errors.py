"""One answer to "is this the database being unavailable, or a real error?"."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

_TRANSIENT_MARKERS = (
    "too many clients",
    "connection was closed",
    "timed out",
    "connection refused",
    "the database system is starting up",
    "terminating connection",
)


def is_transient_db_error(exc: BaseException) -> bool:
    """True when retrying later may succeed: connection refused/lost/exhausted, pool timeout.

    Callers must re-raise these instead of turning them into a business answer
    ("no subscription", "charge 0").
    """
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    message = str(exc).lower()
    return any(marker in message for marker in _TRANSIENT_MARKERS)
