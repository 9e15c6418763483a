"""What a broken connection was carrying: the evidence that tells a lost write from a lost read.

When a connection breaks, :func:`poolwarden.runtime.errors.classify` must know whether the
request in flight could have committed. The message alone does not say; the exception says more:

* the statement in flight — SQLAlchemy's ``DBAPIError.statement``, psycopg2's
  ``Error.cursor.query``, and otherwise the innermost driver frame of the traceback
  (psycopg's ``Cursor.execute(query)``, asyncpg's ``Connection.execute(query)``,
  SQLAlchemy's ``do_execute(statement)`` …);
* a commit in flight — a COMMIT statement, or a driver frame named for it (psycopg's
  ``Connection.commit``, SQLAlchemy's ``do_commit``, asyncpg's ``Transaction.commit`` …);
* a connect in flight — libpq's ``connection to server at … failed``, asyncpg's ``connect``
  frames, a pool checkout: nothing was sent, nothing can have committed;
* whether a transaction was open: the DB-API connection's ``autocommit`` (psycopg 3, psycopg2,
  SQLAlchemy's asyncio adapters; off means the driver began a transaction before the statement)
  or asyncpg's ``Connection.is_in_transaction()``.

Only frames of psycopg, psycopg2, asyncpg and SQLAlchemy are read, and on their objects only
plain attributes (``autocommit``, a cursor's ``connection``, asyncpg's ``is_in_transaction()``);
no driver is imported. Missing evidence stays ``None``: the caller decides conservatively.

Callers can add what only they know with :func:`transaction_context` (or the ``in_transaction``
keyword of ``classify``).
"""

from __future__ import annotations

import contextlib
import dis
import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

__all__ = ["InFlight", "chain", "evidence", "is_commit", "is_retry_safe", "lost_in_flight", "transaction_context"]

_DRIVER_ROOTS = frozenset({"psycopg", "psycopg2", "asyncpg", "sqlalchemy", "psycopg_pool"})

# Locals of driver frames that hold the SQL text being sent.
_STATEMENT_LOCALS = ("query", "statement", "operation", "command")

# Driver frames that open or hand out a connection: nothing was sent yet.
_CONNECT_FRAMES = frozenset({
    "connect", "_connect", "__connect", "_connect_addr", "__connect_addr", "_create_ssl_connection",
    "_connect_gen", "connect_gen", "raw_connection", "_create_connection", "checkout", "_checkout", "getconn",
})

# libpq (psycopg 3, psycopg2) says so when a connect failed; nothing was sent on that connection.
_CONNECT_TEXTS = ("connection to server at", "connection to server on socket", "connection failed:")

# The connection broke under a request (libpq, asyncpg, PgBouncer, a server-side FATAL).
_LOST_TEXTS = (
    "server closed the connection unexpectedly",  # libpq: "before or while processing the request"
    "could not receive data from server",
    "could not send data to server",
    "ssl syscall error",
    "ssl connection has been closed unexpectedly",
    "lost synchronization with server",
    "connection was closed in the middle of operation",  # asyncpg
    "terminating connection due to administrator command",  # 57P01: pg_terminate_backend, fast shutdown
    "terminating connection because of crash",  # 57P02
    "query timeout",  # PgBouncer query_timeout: it closed both sides under a running query
    "query_timeout",
    "server conn crashed",  # PgBouncer: the server connection died under the query
)

# SQLSTATEs that prove no request was in flight: the session was idle, or never started.
_NOT_IN_FLIGHT_STATES = frozenset({"25P03", "57P05", "53300", "57P03", "08001", "08004"})

# Generic errors that mean a broken connection only when a driver frame shows a request in flight.
_LOST_BUILTINS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, EOFError, TimeoutError)

_TOLD = "_poolwarden_in_transaction"


@dataclass(frozen=True)
class InFlight:
    """What the exception shows of the request in flight when the connection broke.

    ``operation`` is ``"connect"``, ``"commit"``, ``"statement"`` or None (nothing seen);
    ``statement`` the SQL text when seen; ``in_transaction`` whether a transaction was open
    before the request (None: unknown); ``told`` what the caller said (:func:`transaction_context`)."""

    operation: str | None
    statement: str | None
    in_transaction: bool | None
    told: bool | None


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then SQLAlchemy's ``.orig``, causes and contexts, each once."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for attr in ("orig", "__cause__", "__context__"):
            nxt = getattr(current, attr, None)
            if isinstance(nxt, BaseException):
                stack.append(nxt)


def _driver_frames(err: BaseException) -> list[FrameType]:
    """The frames of ``err``'s traceback inside a driver or SQLAlchemy, innermost first."""
    frames: list[FrameType] = []
    tb = err.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] in _DRIVER_ROOTS:
            frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames[::-1]


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    as_string = getattr(value, "as_string", None)  # psycopg.sql.Composable
    if callable(as_string) and type(value).__module__.startswith("psycopg"):
        try:
            text = as_string()
        except Exception:
            return None
        return text if isinstance(text, str) else None
    return None


def _is_commit_frame(name: str) -> bool:
    return "commit" in name and "autocommit" not in name


def _frame_operation(frame: FrameType) -> tuple[str, str | None] | None:
    name = frame.f_code.co_name
    for local in _STATEMENT_LOCALS:
        text = _text(frame.f_locals.get(local))
        if text is not None:
            return ("commit" if is_commit(text) else "statement"), text
    if _is_commit_frame(name):
        return "commit", None
    if name in _CONNECT_FRAMES:
        return "connect", None
    return None


def _called_method(err: BaseException) -> str | None:
    """The method name of the call that raised ``err`` from C code (the innermost frame's CALL at
    ``tb_lasti``, its callee found by stack accounting over the bytecode), or None."""
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        instructions = list(dis.get_instructions(tb.tb_frame.f_code))
        at = max(n for n, ins in enumerate(instructions) if ins.offset <= tb.tb_lasti)
        if not instructions[at].opname.startswith("CALL"):
            return None
        argc, depth = instructions[at].arg or 0, 0
        for ins in reversed(instructions[:at]):
            if ins.opname in ("PRECALL", "KW_NAMES"):
                continue
            if ins.opname in ("LOAD_METHOD", "LOAD_ATTR") and depth == argc:
                return str(ins.argval)
            depth += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None, jump=False)
            if depth > argc:
                return None
    except (ValueError, TypeError):
        return None
    return None


def _psycopg2_call(err: BaseException) -> tuple[str, str | None] | None:
    """psycopg2 (C) leaves no frames and no ``cursor`` on errors of its connection-level steps:
    the call the application made says which step it was."""
    called = _called_method(err)
    if called is None:
        return None
    if _is_commit_frame(called):
        return "commit", None
    if called in ("execute", "executemany", "callproc"):
        return "statement", "BEGIN"  # a cursor call that failed with no cursor: psycopg2's own BEGIN
    if called == "rollback":
        return "statement", "ROLLBACK"
    return None


def _operation(err: BaseException) -> tuple[str, str | None] | None:
    statement = _text(getattr(err, "statement", None))  # SQLAlchemy's DBAPIError
    cursor = getattr(err, "cursor", None)  # psycopg2's Error
    if statement is None and cursor is not None and type(cursor).__module__.startswith("psycopg2"):
        statement = _text(getattr(cursor, "query", None))
    if statement is not None:
        return ("commit" if is_commit(statement) else "statement"), statement
    text = str(err).lower()
    if any(marker in text for marker in _CONNECT_TEXTS):
        return "connect", None
    if type(err).__module__.partition(".")[0] == "psycopg2" and cursor is None:
        found = _psycopg2_call(err)
        if found is not None:
            return found
    for frame in _driver_frames(err):
        found = _frame_operation(frame)
        if found is not None:
            return found
    return None


def _autocommit_of(obj: object) -> bool | None:
    """``obj.autocommit`` for a DB-API connection of psycopg / psycopg2 / SQLAlchemy's adapters,
    or of a psycopg / psycopg2 cursor's connection; None when ``obj`` is none of those."""
    module = type(obj).__module__
    root = module.partition(".")[0]
    if root == "sqlalchemy" and not module.startswith(("sqlalchemy.dialects", "sqlalchemy.connectors")):
        return None  # SQLAlchemy's own Connection: its properties may reconnect
    if root not in _DRIVER_ROOTS:
        return None
    try:
        if hasattr(type(obj), "autocommit"):
            value: Any = obj.autocommit  # type: ignore[attr-defined]
        elif root in ("psycopg", "psycopg2") and hasattr(type(obj), "connection"):
            value = obj.connection.autocommit  # type: ignore[attr-defined]
        else:
            return None
    except Exception:
        return None
    return value if isinstance(value, bool) else None


def _in_transaction(err: BaseException) -> bool | None:
    cursor = getattr(err, "cursor", None)
    candidates: list[object] = [cursor] if cursor is not None else []
    for frame in _driver_frames(err):
        candidates.extend(frame.f_locals[name] for name in ("self", "cursor") if name in frame.f_locals)
    for obj in candidates:
        if type(obj).__module__.partition(".")[0] == "asyncpg" and callable(getattr(type(obj), "is_in_transaction",
                                                                                     None)):
            try:
                value = obj.is_in_transaction()  # type: ignore[attr-defined]
            except Exception:
                continue
            if isinstance(value, bool):
                return value
        autocommit = _autocommit_of(obj)
        if autocommit is not None:
            return not autocommit
    return None


def evidence(exc: BaseException) -> InFlight:
    """Everything ``exc`` (with its ``.orig`` / cause / context chain) shows of the request in flight."""
    operation: tuple[str, str | None] | None = None
    in_transaction: bool | None = None
    told: bool | None = None
    for err in chain(exc):
        if told is None:
            value = getattr(err, _TOLD, None)
            told = value if isinstance(value, bool) else None
        if operation is None:
            operation = _operation(err)
        if in_transaction is None:
            in_transaction = _in_transaction(err)
    kind, statement = operation if operation is not None else (None, None)
    return InFlight(kind, statement, in_transaction, told)


def lost_in_flight(exc: BaseException, seen: InFlight | None = None) -> bool:
    """Whether ``exc`` is a connection that broke while a request could have been on it (not at
    connect, not while idle: an idle timeout, a full server, a refused connect say otherwise)."""
    seen = seen or evidence(exc)
    if seen.operation == "connect":
        return False
    for err in chain(exc):
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if state in _NOT_IN_FLIGHT_STATES:
            return False
    for err in chain(exc):
        text = str(err).lower()
        if any(marker in text for marker in _LOST_TEXTS):
            return True
        if isinstance(err, _LOST_BUILTINS) and seen.operation in ("statement", "commit"):
            return True
    return False


# -- statements ------------------------------------------------------------------------------------

_COMMENT = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_WORD = re.compile(r"[A-Za-z]+")

# First keywords of statements that change no data and commit nothing: lost, they can be re-sent.
_SAFE_FIRST_WORDS = frozenset({
    "SELECT", "SHOW", "VALUES", "TABLE", "FETCH", "EXPLAIN", "BEGIN", "START", "ROLLBACK", "ABORT", "SAVEPOINT",
    "RELEASE", "SET", "RESET", "DEALLOCATE",
})
# Words that turn an otherwise safe statement into a write (SELECT … INTO, EXPLAIN ANALYZE, ROLLBACK PREPARED).
_UNSAFE_WORDS = frozenset({"INTO", "ANALYZE", "ANALYSE", "PREPARED"})


def _statements(sql: str) -> list[list[str]]:
    """The words of each ``;``-separated statement of ``sql``, comments dropped (quotes are not
    parsed: a ``;`` inside a literal only makes more, stranger statements, never fewer)."""
    out = []
    for part in sql.split(";"):
        part = _COMMENT.sub("", part, count=1)
        if part.strip():
            out.append([w.upper() for w in _WORD.findall(part)])
    return out


def is_commit(sql: str) -> bool:
    """Whether ``sql`` contains a statement that ends a transaction durably: COMMIT, END,
    COMMIT PREPARED, PREPARE TRANSACTION."""
    for words in _statements(sql):
        first = words[0] if words else ""
        if first in ("COMMIT", "END") or (first == "PREPARE" and words[1:2] == ["TRANSACTION"]):
            return True
    return False


def is_retry_safe(sql: str) -> bool:
    """Whether every statement of ``sql`` is visibly one that changes no data and commits nothing
    (SELECT, SHOW, VALUES, TABLE, FETCH, EXPLAIN without ANALYZE, BEGIN / ROLLBACK / SAVEPOINT /
    RELEASE, SET / RESET). Conservative: a WITH query, a CALL, a DO block, anything that starts with
    a comment this parser does not strip, is not; a SELECT can still call a function that writes
    (say so with :func:`transaction_context` or ``classify(exc, in_transaction=False)``)."""
    statements = _statements(sql)
    if not statements:
        return False
    for words in statements:
        if not words or words[0] not in _SAFE_FIRST_WORDS or _UNSAFE_WORDS.intersection(words):
            return False
    return True


# -- what the caller knows -------------------------------------------------------------------------

class transaction_context:
    """Tell every later ``classify`` of an exception leaving this block what the block knows.

    ``in_transaction=True``: the block runs inside an explicit transaction and does not commit it
    (a lost connection rolled everything back: CONNECTION, retry the transaction).
    ``in_transaction=False``: what the block sends can commit on its own (autocommit, a COMMIT, a
    SELECT that calls a function that writes): a lost connection is AMBIGUOUS whatever the
    statement looks like. A commit seen in flight is AMBIGUOUS either way. The innermost block wins.
    Works in sync and async code alike (``with``, not ``async with``)::

        with transaction_context(in_transaction=False):
            await conn.execute(text("SELECT charge(:invoice)"), {"invoice": invoice_id})
    """

    def __init__(self, *, in_transaction: bool) -> None:
        self.in_transaction = in_transaction

    def __enter__(self) -> transaction_context:
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None and not hasattr(exc, _TOLD):
            with contextlib.suppress(AttributeError, TypeError):  # an exception type without a __dict__
                setattr(exc, _TOLD, self.in_transaction)
