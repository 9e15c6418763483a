"""Errors and their handlers (PW101, PW108): which exceptions an outage raises, what a handler does.

Promises: the exception classes a DB outage can raise, the deadlines the code sets itself, the calls
that re-raise or end a request, the logging calls, and the shapes of an answer that says it failed.
Data only.
"""

from __future__ import annotations

import re
from typing import Final

# -- exceptions (PW101) ----------------------------------------------------------------------------
BROAD_EXCEPTIONS: Final = frozenset({"Exception", "BaseException"})
# Exception classes (last name component) a DB outage can raise: catching one is catching the outage.
TRANSIENT_CAPABLE: Final = frozenset(
    {
        "SQLAlchemyError", "DBAPIError", "OperationalError", "InterfaceError", "DatabaseError",
        "DisconnectionError", "TimeoutError", "PostgresError", "PostgresConnectionError",
        "ConnectionDoesNotExistError", "TooManyConnectionsError", "ConnectionFailureError",
        "CannotConnectNowError", "InterfaceWarning", "PoolTimeout", "PoolClosed", "OSError",
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "IOError",
        "InternalError", "AdminShutdown", "QueryCanceled", "QueryCanceledError",
        "ConnectionTimeout", "ConnectionException", "SerializationFailure",
        "DeadlockDetected", "TransactionRollbackError", "PendingRollbackError", "ResourceClosedError",
        "Error",
    }
)

# Calls that set the code's own deadline around what they run (``async with asyncio.timeout(30):``,
# ``await asyncio.wait_for(f(), 30)``): an ``except TimeoutError`` there catches that deadline, a time
# limit by design; the database's own errors pass it by.
DEADLINE_CALLS: Final = frozenset({"asyncio.timeout", "asyncio.timeout_at", "asyncio.wait_for", "anyio.fail_after",
                                   "anyio.move_on_after", "async_timeout.timeout", "trio.fail_after"})
TIMEOUT_ERRORS: Final = frozenset({"TimeoutError", "CancelledError", "TooSlowError"})

# Exception classes that take every outage of their driver (a later `except Exception` of the same
# `try` sees none): the base and OperationalError classes of psycopg, psycopg2 and Django.
OUTAGE_CLAUSES: Final = frozenset(
    {f"{mod}.{cls}" for mod in ("psycopg", "psycopg2", "django.db") for cls in ("Error", "OperationalError")}
    | {"psycopg2.DatabaseError", "psycopg.DatabaseError", "django.db.DatabaseError", "psycopg.errors.Error",
       "psycopg2.errors.Error", "django.db.utils.Error", "django.db.utils.DatabaseError",
       "django.db.utils.OperationalError"}
)

HEALTH_FUNCTION: Final = re.compile(r"health|ping|alive|liveness|readiness|ready|heartbeat|probe", re.I)

# -- error handling (PW101) ------------------------------------------------------------------------
# Calls in a handler that end the request or re-raise: the failure is not swallowed.
RAISING_CALLS: Final = frozenset({"retry", "abort", "exit", "_exit", "fail", "raise_for_status"})
# Logging, error-reporting and printing calls: a handler made only of these swallows the failure.
LOG_METHODS: Final = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "capture_exception",
     "capture_message", "print", "print_exc", "add_note"}
)
HTTP_5XX_NAMES: Final = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "BAD_GATEWAY", "GATEWAY_TIMEOUT",
                                   "HTTP_500_INTERNAL_SERVER_ERROR", "HTTP_503_SERVICE_UNAVAILABLE",
                                   "HTTP_502_BAD_GATEWAY", "HTTP_504_GATEWAY_TIMEOUT",
                                   # response classes that are a 5xx: Django, werkzeug, aiohttp
                                   "HttpResponseServerError", "InternalServerError", "ServiceUnavailable",
                                   "HTTPInternalServerError", "HTTPServiceUnavailable", "HTTPBadGateway",
                                   "HTTPGatewayTimeout"})
# An answer that says it failed is no lie: ``success=False``, ``{"ok": False}``, ``(False, msg)``, an
# ``errormsg=...`` field, or text such as "Unable to import data" / "Failed to disable".
FAILURE_FLAGS: Final = frozenset({"success", "ok", "succeeded", "status", "is_success"})
ERROR_FIELDS: Final = frozenset({"error", "errors", "errormsg", "error_message", "err", "failure", "failure_reason",
                                 "failure_note", "failures", "error_code", "detail_error"})
# ... or a "400 Bad Request" answer: the request failed, and the client is told so (a 401/403/404 is
# an answer about the thing asked for — "not yours", "no such thing" — and lies during an outage).
BAD_REQUEST_STATUS: Final = 400
BAD_REQUEST_NAMES: Final = frozenset({"HTTP_400_BAD_REQUEST", "BAD_REQUEST"})
STATUS_KEYWORDS: Final = frozenset({"status", "status_code"})
FAILURE_TEXT: Final = re.compile(r"fail|unable|could ?n[o']t|cannot|can't|try again|unavailable|error", re.I)
# A call whose name holds this word classifies the error (``raise_if_transient(exc)``, ``is_transient``).
TRANSIENT_WORD: Final = "transient"
