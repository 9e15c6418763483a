"""What methods of DB values do: run SQL, clean up, open a transaction or check out a connection.

Promises: the method names that run statements or give a connection back, ``(kind, method) -> Effect``
and ``(kind, method) -> Kind`` of the result, the contexts whose exit ends a transaction, and how a
connection is released (PW105). :func:`checks_out` is the one derived fact. Data only.
"""

from __future__ import annotations

from typing import Final

from poolwarden.check.knowledge.kinds import (
    BOTO,
    CONNECTION,
    CURSOR,
    DBANY,
    ENGINE,
    POOL,
    SESSION,
    SESSIONMAKER,
    Effect,
    Kind,
)

# -- methods: (kind, method) -> effect (see :class:`Effect`) ---------------------------------------
# DB_METHODS run SQL or talk to the server; CLEANUP_METHODS give a connection back or end its use.
DB_METHODS: Final = frozenset(
    {
        "execute", "executemany", "exec_driver_sql", "scalar", "scalars", "scalar_one",
        "fetch", "fetchrow", "fetchval", "fetchone", "fetchall", "fetchmany", "copy_from_query",
        "copy_records_to_table", "copy_to_table", "copy_from_table", "copy_expert", "copy",
        "stream", "stream_scalars", "query", "flush", "refresh", "merge", "get_one",
        "callproc", "prepare", "commit", "run_sync", "execute_values", "execute_batch",
    }
)
CLEANUP_METHODS: Final = frozenset(
    {"close", "dispose", "rollback", "release", "putconn", "terminate", "invalidate", "expunge_all", "aclose"}
)

COMMIT_METHODS: Final = frozenset({"commit"})  # ends the transaction after running it (a DB call)
END_METHODS: Final = frozenset({"rollback"})  # cleanup that ends the transaction, keeps the connection
RELEASE_ARGUMENT_METHODS: Final = frozenset({"putconn", "release"})  # pool.putconn(conn): the argument goes back
SESSION_QUERY_METHODS: Final = frozenset({"get", "get_one"})  # Session.get runs a SELECT
SESSIONMAKER_METHODS: Final = frozenset({"begin", "configure", "kw"})  # the rest of a factory makes no session
POOLED_KINDS: Final = frozenset({POOL, ENGINE, DBANY})  # what a checkout comes from: a pool slot
# Any receiver, in a database-aware module: psycopg2 pools' checkout and return.
POOL_CHECKOUT_METHODS: Final = frozenset({"getconn"})
POOL_RETURN_METHODS: Final = frozenset({"putconn"})
# Context-manager methods whose result, when assigned instead (``conn = engine.connect()``), is a
# checkout the function must close itself ("<kind>.<method>", as CallInfo.target spells it).
ASSIGNED_CHECKOUTS: Final = frozenset({"engine.connect"})

# What a `with helper() as <name>:` target named like these holds, when the helper is project code.
HELD_HINTS: Final = frozenset({SESSION, CONNECTION})
# Methods that open a handle on a DB value (the receiver is then a DB handle of the function).
HANDLE_METHODS: Final = frozenset({"cursor", "transaction", "begin"})
# Decorators that make a method an attribute (its return annotation is the attribute's type).
PROPERTY_DECORATORS: Final = frozenset({"property", "cached_property"})
# `with <kind>.<method>():` blocks whose exit ends the receiver's transaction (commit, or rollback on
# error); a savepoint (`begin_nested()`) ends only itself.
ENDS_AT_EXIT: Final[frozenset[tuple[Kind, str]]] = frozenset({(SESSION, "begin")})
# `with closing(x):` closes its argument when the block is left.
CLOSING_CONTEXTS: Final = frozenset({"contextlib.closing", "contextlib.aclosing"})
# Functions whose call is a context with a known effect.
FUNCTION_EFFECTS: Final[dict[str, Effect]] = {"django.db.transaction.atomic": Effect.TX}
# Calls whose callable arguments run after the transaction commits (``transaction.on_commit(lambda:
# send_mail(...))``): what they call is not done while the transaction is held.
AFTER_COMMIT: Final = frozenset({"django.db.transaction.on_commit"})
# Django's ATOMIC_REQUESTS: every view runs in a transaction. A view is a function of a module that
# imports Django (or DRF) whose first parameter (after ``self``) is the request; this decorator opts out.
ATOMIC_REQUESTS_KEY: Final = "ATOMIC_REQUESTS"
VIEW_FRAMEWORK_ROOTS: Final = frozenset({"django", "rest_framework"})
VIEW_REQUEST_PARAM: Final = "request"
NON_ATOMIC_VIEW_DECORATORS: Final = frozenset({"django.db.transaction.non_atomic_requests"})

METHOD_EFFECTS: Final[dict[tuple[Kind, str], Effect]] = {
    (ENGINE, "connect"): Effect.HOLD,
    (ENGINE, "begin"): Effect.TX,
    (ENGINE, "raw_connection"): Effect.ACQUIRE,
    (SESSIONMAKER, "begin"): Effect.TX,
    (SESSION, "begin"): Effect.TX,
    (SESSION, "begin_nested"): Effect.TX,
    (SESSION, "connection"): Effect.HOLD,
    (CONNECTION, "begin"): Effect.TX,
    (CONNECTION, "transaction"): Effect.TX,
    (CONNECTION, "begin_nested"): Effect.TX,
    (POOL, "acquire"): Effect.ACQUIRE,
    (POOL, "getconn"): Effect.ACQUIRE,
    (POOL, "connection"): Effect.HOLD,
    (DBANY, "begin"): Effect.TX,
    (DBANY, "connect"): Effect.HOLD,
    (DBANY, "acquire"): Effect.ACQUIRE,
    (DBANY, "transaction"): Effect.TX,
}
# Methods that check out a connection from some kind of handle: on a value a project helper returned
# (``engine = get_engine(); conn = engine.connect()``), decided once the index knows the helper's kind.
CHECKOUT_METHODS: Final = frozenset(m for (_k, m), e in METHOD_EFFECTS.items() if e in (Effect.ACQUIRE, Effect.HOLD))


def checks_out(kind: Kind, method: str) -> bool:
    """Whether ``<kind>.<method>()``, assigned to a name, is a checkout the function must release."""
    effect = METHOD_EFFECTS.get((kind, method))
    return effect is Effect.ACQUIRE or (effect is Effect.HOLD and f"{kind.value}.{method}" in ASSIGNED_CHECKOUTS)


# Method calls whose result kind is known.
METHOD_RESULTS: Final[dict[tuple[Kind, str], Kind]] = {
    (ENGINE, "connect"): CONNECTION,
    (ENGINE, "begin"): CONNECTION,
    (ENGINE, "raw_connection"): CONNECTION,
    (SESSION, "connection"): CONNECTION,
    (SESSION, "begin"): SESSION,
    (SESSIONMAKER, "begin"): SESSION,
    (POOL, "acquire"): CONNECTION,
    (POOL, "getconn"): CONNECTION,
    (POOL, "connection"): CONNECTION,
    (CONNECTION, "cursor"): CURSOR,
    (DBANY, "begin"): CONNECTION,
    (DBANY, "connect"): CONNECTION,
    (DBANY, "acquire"): CONNECTION,
    (DBANY, "session"): SESSION,
    (DBANY, "cursor"): CURSOR,
    (BOTO, "client"): BOTO,  # boto3.Session().client("s3"): a client whose calls are AWS calls
    (BOTO, "resource"): BOTO,
}

# -- releasing (PW105) -----------------------------------------------------------------------------
# Methods that give a connection back, called on it or with it (``conn.close()``, ``pool.putconn(conn)``).
RELEASE_METHODS: Final = frozenset({"close", "release", "putconn", "aclose", "dispose", "terminate"})
# A project helper whose name holds one of these, called with the connection, gives it back.
RELEASE_HELPER_WORDS: Final = ("put", "release", "close", "return")
