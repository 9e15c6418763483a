"""Telling a database outage from a real answer: ``classify``, ``is_transient``, ``raise_if_transient``.

The decision is made by SQLSTATE first (psycopg's ``sqlstate``, psycopg2's ``pgcode``,
asyncpg's ``sqlstate``), then by driver, pool and SQLAlchemy exception classes, walking
SQLAlchemy's ``.orig`` and the ``__cause__`` / ``__context__`` chain. No driver is imported:
classes are recognised by module and name, so this module is safe to import anywhere.

Kinds:

* :attr:`ErrorKind.CONNECTION` — the server refused, dropped or could not be reached, or a pool
  could not hand out a connection in time, and nothing sent can have committed: the connection
  broke while connecting or idle, under a statement inside an explicit transaction (which the
  server then rolled back), or under a statement that visibly writes nothing. Retry later; answer 503.
* :attr:`ErrorKind.RETRY_TRANSACTION` — serialization failure, deadlock, lock not available:
  the transaction can be re-run as a whole.
* :attr:`ErrorKind.AMBIGUOUS` — the outcome is unknown: the connection broke under a COMMIT, or
  under a statement that can commit on its own (autocommit) and is not visibly read-only — reset
  by the network, cut by PgBouncer's ``query_timeout``, the backend terminated; also a statement
  cancelled by ``statement_timeout``, SQLSTATE 08007. The write may have happened: do not retry it
  blindly, check first (an idempotency key, a unique constraint). Still transient: not an answer.
* :attr:`ErrorKind.NOT_TRANSIENT` — everything else: bad SQL, constraint violations, bad
  credentials, programming errors, and connection settings that cannot work (a missing database,
  ``sslmode=require`` against a server without SSL, a host name that does not exist —
  ``EAI_NONAME`` / ``EAI_NODATA``, unlike ``EAI_AGAIN``, a resolver that could not answer now).
  Retrying will not help.

A broken connection is told apart from a lost write by what the exception shows of the request in
flight (:mod:`poolwarden.runtime.inflight`: the statement, a commit, the DB-API ``autocommit``,
asyncpg's transaction state); what it cannot show, the caller can add —
``classify(exc, in_transaction=...)`` or :func:`~poolwarden.runtime.inflight.transaction_context`.
Without evidence the answer is AMBIGUOUS: "retry" is never guessed. See docs/runtime/errors.md,
"When is a retry safe?".
"""

from __future__ import annotations

import enum
import socket

from poolwarden.runtime.inflight import chain as _chain
from poolwarden.runtime.inflight import evidence, is_retry_safe, lost_in_flight, transaction_context

__all__ = ["ErrorKind", "classify", "is_transient", "raise_if_transient", "sqlstate_of", "transaction_context"]


class ErrorKind(enum.Enum):
    """What a failure means for the caller."""

    CONNECTION = "connection"
    RETRY_TRANSACTION = "retry-transaction"
    AMBIGUOUS = "ambiguous"
    NOT_TRANSIENT = "not-transient"


# SQLSTATE -> kind; a two-character entry covers the whole class.
_SQLSTATES: dict[str, ErrorKind] = {
    "08": ErrorKind.CONNECTION,  # connection exception
    "08007": ErrorKind.AMBIGUOUS,  # transaction resolution unknown
    "53": ErrorKind.CONNECTION,  # insufficient resources (53300 too many connections)
    "57P01": ErrorKind.CONNECTION,  # admin shutdown (also pg_terminate_backend)
    "57P02": ErrorKind.CONNECTION,  # crash shutdown
    "57P03": ErrorKind.CONNECTION,  # cannot connect now (starting up / shutting down)
    "57P05": ErrorKind.CONNECTION,  # idle session timeout
    "57014": ErrorKind.AMBIGUOUS,  # query canceled (statement_timeout)
    "25P03": ErrorKind.CONNECTION,  # idle-in-transaction session timeout
    "25P04": ErrorKind.CONNECTION,  # transaction timeout
    "40001": ErrorKind.RETRY_TRANSACTION,  # serialization failure
    "40P01": ErrorKind.RETRY_TRANSACTION,  # deadlock detected
    "55P03": ErrorKind.RETRY_TRANSACTION,  # lock not available
    "40003": ErrorKind.AMBIGUOUS,  # statement completion unknown
}

# (module root, class name) of exceptions that mean "no usable connection", when no SQLSTATE says more.
_CONNECTION_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("sqlalchemy", "TimeoutError"),  # QueuePool limit reached, connection timed out
        ("sqlalchemy", "DisconnectionError"),
        ("sqlalchemy", "InvalidatePoolError"),
        ("psycopg_pool", "PoolTimeout"),
        ("psycopg_pool", "PoolClosed"),
        ("psycopg_pool", "TooManyRequests"),
        ("psycopg", "OperationalError"),
        ("psycopg", "InterfaceError"),
        ("psycopg2", "OperationalError"),
        ("psycopg2", "InterfaceError"),
        ("asyncpg", "ConnectionDoesNotExistError"),
        ("asyncpg", "ConnectionFailureError"),
        ("asyncpg", "InterfaceError"),
        ("asyncpg", "InternalClientError"),
        ("asyncpg", "PostgresConnectionError"),
        ("asyncpg", "TooManyConnectionsError"),
        ("asyncpg", "CannotConnectNowError"),
    }
)
_CONNECTION_BUILTINS = (ConnectionError, TimeoutError, EOFError)

# PgBouncer's own errors carry SQLSTATE 08P01 (protocol violation); the texts name the cause.
_PGBOUNCER_TEXTS = (
    "no more connections allowed",
    "query_wait_timeout",
    "server login has been failing",
    "pgbouncer cannot connect to server",
    "server conn crashed",
    "client_idle_timeout",
    "idle transaction timeout",
    "pooler error",
)


# Connection failures that are configuration, not outage: retrying will not help.
_CONFIG_TEXTS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # database "x" / role "x" does not exist
    "invalid dsn",
    "invalid connection option",
    "server does not support ssl, but ssl was required",  # libpq, sslmode=require against a server without SSL
    "rejected ssl upgrade",  # asyncpg, the same
    "name or service not known",  # EAI_NONAME: the host name does not exist (EAI_AGAIN stays an outage)
    "no address associated with hostname",  # EAI_NODATA: the name exists, with no address
)

# getaddrinfo's answers that a name has no address (EAI_AGAIN, EAI_FAIL: the resolver failed, an outage).
_NO_SUCH_NAME = frozenset(getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n))


def sqlstate_of(exc: BaseException) -> str | None:
    """The first SQLSTATE found along ``exc``'s chain, or None."""
    for err in _chain(exc):
        for attr in ("sqlstate", "pgcode"):
            value = getattr(err, attr, None)
            if isinstance(value, str) and len(value) == 5:
                return value
        diag = getattr(err, "diag", None)
        value = getattr(diag, "sqlstate", None) if diag is not None else None
        if isinstance(value, str) and len(value) == 5:
            return value
    return None


def _by_class(err: BaseException) -> ErrorKind | None:
    if isinstance(err, socket.gaierror):  # asyncpg lets the resolver's error through
        return ErrorKind.NOT_TRANSIENT if err.errno in _NO_SUCH_NAME else ErrorKind.CONNECTION
    for cls in type(err).__mro__:
        root = cls.__module__.partition(".")[0]
        if (root, cls.__name__) in _CONNECTION_CLASSES:
            return ErrorKind.CONNECTION
    if getattr(err, "connection_invalidated", False):  # SQLAlchemy DBAPIError after a disconnect
        return ErrorKind.CONNECTION
    if isinstance(err, _CONNECTION_BUILTINS):
        return ErrorKind.CONNECTION
    if isinstance(err, OSError) and err.errno is not None:
        return ErrorKind.CONNECTION  # ECONNREFUSED, ENOENT on the socket path, EHOSTUNREACH …
    return None


def classify(exc: BaseException, *, in_transaction: bool | None = None) -> ErrorKind:
    """What ``exc`` means for the caller (see the module docstring).

    ``in_transaction`` is what the caller knows of a request a broken connection was carrying:
    True — it ran inside an explicit transaction, before that transaction's COMMIT (rolled back:
    CONNECTION); False — it could commit on its own (autocommit, a COMMIT, a SELECT that calls a
    function that writes: AMBIGUOUS). None (the default): decided from the exception alone. A commit
    seen in flight is AMBIGUOUS whatever the caller says. Nothing but broken connections is affected.
    """
    kind = _kind(exc)
    if kind is ErrorKind.CONNECTION:
        seen = evidence(exc)
        if lost_in_flight(exc, seen):
            return _lost_request(seen.operation, seen.statement, seen.in_transaction,
                                 in_transaction if in_transaction is not None else seen.told)
    return kind


def _lost_request(operation: str | None, statement: str | None, in_transaction: bool | None,
                  told: bool | None) -> ErrorKind:
    """A connection broke under a request: CONNECTION when nothing sent can have committed."""
    if operation == "commit":
        return ErrorKind.AMBIGUOUS  # the server may have committed before the connection broke
    if told is not None:
        return ErrorKind.CONNECTION if told else ErrorKind.AMBIGUOUS
    if statement is not None and is_retry_safe(statement):
        return ErrorKind.CONNECTION  # visibly writes nothing, commits nothing
    if operation == "statement" and in_transaction:
        return ErrorKind.CONNECTION  # inside a transaction that never reached COMMIT: rolled back
    return ErrorKind.AMBIGUOUS  # autocommit, or nothing to tell: never guess "retry"


def _kind(exc: BaseException) -> ErrorKind:
    """The kind by SQLSTATE, message and class, before asking what was in flight."""
    state = sqlstate_of(exc)
    if state == "55000" and any("not currently accepting connections" in str(e) for e in _chain(exc)):
        return ErrorKind.CONNECTION  # the database refuses connections for now (ALLOW_CONNECTIONS false)
    if state is not None:
        kind = _SQLSTATES.get(state) or _SQLSTATES.get(state[:2])
        if kind is not None:
            return kind
        if not state.startswith(("08", "53", "57")):
            return ErrorKind.NOT_TRANSIENT  # the server answered: SQL, data, auth … errors
    for err in _chain(exc):
        text = str(err).lower()
        if any(marker in text for marker in _PGBOUNCER_TEXTS):
            return ErrorKind.CONNECTION
        if any(marker in text for marker in _CONFIG_TEXTS):
            return ErrorKind.NOT_TRANSIENT
    for err in _chain(exc):
        kind = _by_class(err)
        if kind is not None:
            return kind
    return ErrorKind.NOT_TRANSIENT


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an outage or a conflict rather than an answer: never turn it into "no"."""
    return classify(exc) is not ErrorKind.NOT_TRANSIENT


def raise_if_transient(exc: BaseException) -> None:
    """Re-raise ``exc`` when it is transient; return otherwise. Call it first in broad handlers::

        except Exception as exc:
            raise_if_transient(exc)
            ...  # only real answers get here
    """
    if is_transient(exc):
        raise exc
