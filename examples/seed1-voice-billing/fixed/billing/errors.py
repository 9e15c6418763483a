"""One answer to "is this the database being unavailable, or a real error?".

The first version of this module kept its own list (OperationalError, InterfaceError, a few
message texts). ``poolwarden drill --fault saturation`` found the gap: under saturation asyncpg
can fail a pooled connection with ``InternalClientError`` ("cannot switch to state …; another
operation is in progress"), which SQLAlchemy wraps as ``InternalError`` — not on the list, so
the subscription lookup answered "no active subscription" (404) once in a few drills. The
decision now comes from poolwarden's classifier: SQLSTATE first, then driver, pool and
SQLAlchemy classes, proven on real faults for each driver.
"""

from __future__ import annotations

from poolwarden.runtime.errors import is_transient


def is_transient_db_error(exc: BaseException) -> bool:
    """True when retrying later may succeed: connection refused/lost/exhausted, pool timeout.

    Callers must re-raise these instead of turning them into a business answer
    ("no subscription", "charge 0").
    """
    return is_transient(exc)
