"""PW105 unreleased-connection: an acquisition that some path leaves unreleased."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.paths import escapes, find_leak, releases_somewhere
from poolwarden.check.rule import Rule, example

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = "release it in a `finally` block, or acquire it with `with` / `async with`"


@dataclass(frozen=True, slots=True)
class HelperCheckout(Deferred):
    """``var = helper()`` left unreleased on some path: a finding if ``helper`` hands over a connection."""

    ref: str
    call: str  # "get_conn()"
    var: str
    why: str | None  # the explicit path that leaks (a return, a raise, the end), if any
    pooled_why: str | None  # the exception path that leaks: for pool checkouts, or when `closes`
    closes: bool  # the function releases it itself, only not on that exception path


class UnreleasedConnection(Rule):
    CODE = "PW105"
    NAME = "unreleased-connection"
    SUMMARY = "A connection, session or pool checkout that an early return or an exception leaves unreleased."
    WHAT = """
Flags the acquisition — `pool.getconn()`, `await pool.acquire()`, `conn = engine.connect()`,
`psycopg.connect()`, `psycopg2.connect()`, `asyncpg.connect()`, `Session()` /
`SessionLocal()` — assigned to a variable outside a `with` block, when some path leaves the
function without releasing it: an early `return`, a `raise`, a handler that returns, the end
of the function, a `yield` the caller may throw into, or (for pool checkouts) an exception
from any statement between the checkout and a release that is not in a `finally` — for a direct
connection too, when the function closes it itself after the work (`conn.close()` not in a
`finally`).
Acquisitions through project helpers (`conn = get_conn()` where `get_conn` returns
`pool.getconn()` in another module) are followed. A connection that is returned, stored on an
object, or handed to another function is the receiver's responsibility and is not flagged;
`return conn.execute(q).fetchone()` returns the rows, not the connection, and is.
"""
    WHY = """
A checkout that is not given back is a slot the pool never sees again. Under normal load a
small leak rate goes unnoticed; under pressure it pushes the pool, and then the server, over
the edge. In the seed incident, a high-traffic endpoint left its result unclosed on
early-return and panic-recovery paths, and together with the scheduler's jobs it took the
platform down for 45 minutes.
"""
    EXAMPLE = """
def leaderboard(user_id):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute("SELECT banned FROM users WHERE id = %s", (user_id,))
    if cur.fetchone()[0]:
        return []            # the connection never goes back
    cur.execute(LEADERBOARD)
    rows = cur.fetchall()
    pool.putconn(conn)
    return rows
"""
    USE_INSTEAD = """
def leaderboard(user_id):
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT banned FROM users WHERE id = %s", (user_id,))
            if cur.fetchone()[0]:
                return []
            cur.execute(LEADERBOARD)
            return cur.fetchall()
    finally:
        pool.putconn(conn)
"""
    DEFERRED = HelperCheckout
    NODES = (ast.FunctionDef, ast.AsyncFunctionDef)

    VALID = [
        example("""
import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 5, "dbname=app connect_timeout=5")

def load(uid):
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()
    finally:
        pool.putconn(conn)
"""),
        example("""
import asyncpg

async def load(pool: asyncpg.Pool):
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT 1")
"""),
        example("""
import psycopg

def connect():
    conn = psycopg.connect("dbname=app connect_timeout=5")
    conn.autocommit = True
    return conn
""", note="returned: the caller owns it"),
        example("""
from .database import SessionLocal

def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
""", database="from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n"),
        example("""
import psycopg2

class Repo:
    def open(self):
        conn = psycopg2.connect("dbname=app connect_timeout=5")
        self.conn = conn
""", note="stored on the object: released by its owner"),
        example("""
from .db import get_conn, put_conn

def total():
    conn = get_conn()
    try:
        cur = conn.cursor()
        cur.execute("SELECT sum(x) FROM t")
        return cur.fetchone()[0]
    finally:
        put_conn(conn)
""", db="import psycopg2.pool\npool = psycopg2.pool.SimpleConnectionPool(1, 2, 'dbname=a connect_timeout=5')\n\ndef get_conn():\n    return pool.getconn()\n\ndef put_conn(c):\n    pool.putconn(c)\n"),
    ]
    INVALID = [
        example("""
import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 5, "dbname=app connect_timeout=5")

def leaderboard(user_id):
    conn = pool.getconn()  # error
    cur = conn.cursor()
    cur.execute("SELECT banned FROM users WHERE id = %s", (user_id,))
    if cur.fetchone()[0]:
        return []
    rows = cur.fetchall()
    pool.putconn(conn)
    return rows
"""),
        example("""
import asyncpg

async def count(pool: asyncpg.Pool):
    conn = await pool.acquire()  # error
    n = await conn.fetchval("SELECT count(*) FROM t")
    await pool.release(conn)
    return n
""", note="an exception from fetchval leaves the checkout unreleased"),
        example("""
from .db import get_conn

def profile(uid):
    conn = get_conn()  # error
    cur = conn.cursor()
    cur.execute("SELECT * FROM users WHERE id = %s", (uid,))
    row = cur.fetchone()
    if row is None:
        return None
    conn.close()
    return row
""", note="cross-module: get_conn() returns a pool checkout",
            db="import psycopg2.pool\npool = psycopg2.pool.SimpleConnectionPool(1, 2, 'dbname=a connect_timeout=5')\n\ndef get_conn():\n    return pool.getconn()\n"),
        example("""
from .database import SessionLocal

def get_db():
    db = SessionLocal()  # error
    yield db
    db.close()
""", database="from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n"),
        example("""
import psycopg

def export(path):
    conn = psycopg.connect("dbname=app connect_timeout=5")  # error
    rows = conn.execute("SELECT * FROM t").fetchall()
    if not rows:
        raise ValueError("nothing to export")
    conn.close()
    return rows
"""),
        example("""
from sqlalchemy import create_engine, text

engine = create_engine("postgresql+psycopg://db/app", pool_size=5, max_overflow=0, pool_timeout=5,
                       connect_args={"connect_timeout": 5})

def count():
    conn = engine.connect()  # error
    return conn.execute(text("SELECT count(*) FROM t")).scalar()
""", note="the rows are returned, the connection is not: it stays checked out until garbage collection"),
        example("""
import psycopg

def cancel(dsn, pid):
    conn = psycopg.connect(dsn, connect_timeout=5)  # error
    conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
    conn.close()
""", note="close() not in a finally: an error from execute skips it"),
    ]

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        scope = ctx.last_scope
        if scope is None or scope.node is not node or not scope.acquisitions:
            return
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for acq in scope.acquisitions:
            if acq.ref is not None and acq.var not in scope.receivers:
                continue
            if escapes(node, acq):
                continue
            # Explicit paths (return, raise, end of function) first: they make the clearer message.
            leak = find_leak(node, acq, exceptions=False)
            # A direct connection is also flagged on an exception path when the function closes it
            # itself, but not in a `finally` (`conn.close()` after the work): the close is skipped.
            closes = releases_somewhere(node, acq)
            if acq.ref is None:
                if leak is None and (acq.pooled or closes):
                    leak = find_leak(node, acq, exceptions=True)
                if leak is not None:
                    ctx.report(acq.call, f"`{acq.desc}` acquires `{acq.var}`, but {leak.why} leaves it "
                               f"unreleased: {_ADVICE}")
                continue
            pooled_leak = find_leak(node, acq, exceptions=True) if leak is None else None
            if leak is not None or pooled_leak is not None:
                ctx.defer(acq.call, HelperCheckout(acq.ref, acq.desc, acq.var, leak.why if leak else None,
                                                   pooled_leak.why if pooled_leak else None, closes))

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, HelperCheckout)
        reach = index.returns_connection(data.ref)
        if reach is None:
            return None
        why = data.why
        if why is None:
            if not (reach.pooled or data.closes):
                return None
            why = data.pooled_why
        return (f"`{data.call}` hands over a connection ({reach.describe()}), but {why} leaves `{data.var}` "
                f"unreleased: {_ADVICE}")
