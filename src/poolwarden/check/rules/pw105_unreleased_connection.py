"""PW105 unreleased-connection: an acquisition that some path leaves unreleased."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.paths import dropped_in_handler, escapes, find_leak, releases_somewhere
from poolwarden.check.rule import Rule, example

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = "release it in a `finally` block, or acquire it with `with` / `async with`"
_ENGINES = ("from sqlalchemy import create_engine\nfrom sqlalchemy.engine import Engine\n\n"
            "_engine = create_engine('postgresql+psycopg://db/app', pool_size=20, max_overflow=0, pool_timeout=5,\n"
            "                        connect_args={'connect_timeout': 5})\n\n"
            "def get_engine() -> Engine:\n    return _engine\n")
_ADVICE_MANY = "release them in a `finally` block, or enter each in a `contextlib.ExitStack`"


@dataclass(frozen=True, slots=True)
class HelperCheckout(Deferred):
    """``var = helper()`` left unreleased on some path: a finding if ``helper`` hands over a connection."""

    ref: str
    call: str  # "get_conn()"
    var: str
    why: str | None  # the explicit path that leaks (a return, a raise, the end), if any
    pooled_why: str | None  # the exception path that leaks: for pool checkouts, or when `closes`
    closes: bool  # the function releases it itself, only not on that exception path
    method: str | None = None  # `var = x.<method>()` where `x = helper()`: a checkout if helper returns that kind
    many: bool = False  # one checkout per item of a comprehension


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
`pool.getconn()` in another module), checkouts from a handle a helper returns
(`engine = get_engine()`, annotated or known to return an engine, then `engine.connect()`) and
the checkout a nested coroutine returns (`pg_conn = asyncio.run(connect())`) are followed.
A comprehension of checkouts (`conns = [engine.connect() for _ in range(n)]`) is one acquisition
per item: some path must release them all (a loop of `close()` in a `finally`, or each entered in
a `contextlib.ExitStack`); one failure part-way also leaves the earlier ones checked out.
A connection that is returned, stored on an object, or handed to another function is the
receiver's responsibility and is not flagged — unless this function closes it itself (then it
owns it, whatever it passes it to, and a call before the protecting `try` can skip the close), or
it is kept only in an attribute that an `except` clause clears (`self.conn = None`, `del
self.conn`) without closing it: the last reference is gone and the connection stays open.
`return conn.execute(q).fetchone()` returns the rows, not the connection, and is flagged.
A session (`Session()`) holds no connection before its first statement, so an exception before
that leaks nothing; in an entry point that runs once per process (`main`, Alembic's
`run_migrations_online`) an exception ends the process, so only explicit paths are flagged there.
Test code (`test_*.py`, `conftest.py`, modules of a `tests` / `test` package) is not checked: a
failing test ends, and the test process closes what it held.
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
        example("""
import contextlib

from sqlalchemy import text

from .engines import get_engine

def warm_up(n):
    primary = get_engine()
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(primary.connect()) for _ in range(n)]
        for conn in conns:
            conn.execute(text("SELECT 1"))
""", note="each checkout entered in an ExitStack: all released, whatever fails",
            engines=_ENGINES),
        example("""
from sqlalchemy import text

from .engines import get_engine

def warm_up(n):
    primary = get_engine()
    conns = [primary.connect() for _ in range(n)]
    try:
        for conn in conns:
            conn.execute(text("SELECT 1"))
    finally:
        for conn in conns:
            conn.close()
""", engines=_ENGINES),
        example("""
import psycopg

class Link:
    def open(self, dsn):
        pg_conn = psycopg.connect(dsn, connect_timeout=5)
        self.conn = pg_conn
        try:
            self.setup()
        except Exception:
            pg_conn.close()
            self.conn = None
            raise
""", note="the handler closes the connection before dropping it"),
        example("""
from .db import open_conn

def run(query):
    conn = open_conn()
    register_types(conn)
    return conn
""", note="handed to the caller: passing it to register_types() does not make this function its owner",
            db="import psycopg2\n\ndef open_conn():\n    conn = psycopg2.connect('dbname=a connect_timeout=5')\n    return conn\n"),
        example("""
import uuid

from .database import SessionLocal

def seed(rows):
    session = SessionLocal()
    batch = str(uuid.uuid4())
    try:
        insert_rows(session, batch, rows)
        session.commit()
    finally:
        session.close()
""", note="a session holds no connection before its first statement: nothing leaks before the try",
            database="from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n"),
        example("""
from alembic import context
from sqlalchemy import engine_from_config, pool

def run_migrations_online():
    engine = engine_from_config(context.config.get_section("alembic"), poolclass=pool.NullPool)
    connection = engine.connect()
    context.configure(connection=connection)
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.close()
""", note="runs once per process: an exception ends the process, which closes the connection"),
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
        example("""
from sqlalchemy import text

from .engines import get_engine

def warm_up(n):
    primary = get_engine()
    conns = [primary.connect() for _ in range(n)]  # error
    for conn in conns:
        conn.execute(text("SELECT 1"))
    for conn in conns:
        conn.close()
""", note="cross-module: get_engine() is annotated to return an Engine; an exception from any execute, or "
          "from the n-th connect, leaves the connections already checked out", engines=_ENGINES),
        example("""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=20, max_overflow=0, pool_timeout=5)

async def warm_up(n):
    conns = [await engine.connect() for _ in range(n)]  # error
    for conn in conns:
        await conn.execute(text("SELECT 1"))
    for conn in conns:
        await conn.close()
"""),
        example("""
import psycopg

class Link:
    def open(self, dsn):
        pg_conn = psycopg.connect(dsn, connect_timeout=5)  # error
        self.conn = pg_conn
        try:
            self.setup()
        except Exception:
            self.conn = None
            raise
""", note="the handler forgets the only reference to the connection without closing it"),
        example("""
import asyncio

import psycopg

class Link:
    def open(self, dsn):
        async def connect():
            return await psycopg.AsyncConnection.connect(dsn, connect_timeout=5)  # error
        pg_conn = asyncio.run(connect())
        self.conn = pg_conn
        try:
            self.setup()
        except Exception:
            del self.conn
            raise
""", note="the checkout a nested coroutine returns, run by asyncio.run()"),
        example("""
from .db import open_conn

def run(query):
    conn = open_conn()  # error
    wait_ready(conn)
    cur = conn.cursor()
    try:
        cur.execute(query)
        return cur.fetchall()
    finally:
        conn.close()
""", note="cross-module: wait_ready() can raise before the try that closes the connection",
            db="import psycopg2\n\ndef open_conn():\n    conn = psycopg2.connect('dbname=a connect_timeout=5')\n    return conn\n"),
        example("""
from .database import SessionLocal

def rename(uid, name):
    session = SessionLocal()  # error
    user = session.get(User, uid)
    apply_rename(session, user, name)
    session.close()
""", note="close() not in a finally: the session, used, is this function's to close whatever it passes it to",
            database="from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n"),
    ]

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        scope = ctx.last_scope
        if scope is None or scope.node is not node or not scope.acquisitions or ctx.is_test:
            return  # (test code: a failing test ends, and its process closes what it held)
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        # In an entry point that runs once per process (`main`, Alembic's `run_migrations_online`), an
        # exception ends the process, which closes the connection: only explicit paths count there.
        exceptions = not scope.runs_once
        for acq in scope.acquisitions:
            if acq.ref is not None and acq.method is None and acq.var not in scope.receivers:
                continue
            if escapes(node, acq):
                dropped = dropped_in_handler(node, acq) if acq.ref is None and not acq.many else None
                if dropped is not None:
                    ctx.report(acq.call, f"`{acq.desc}` acquires `{acq.var}` and keeps it on the object, but "
                               f"{dropped.why} without closing it: its last reference is gone and it stays "
                               f"open until garbage collection; close it before dropping the reference")
                continue
            # Explicit paths (return, raise, end of function) first: they make the clearer message.
            leak = find_leak(node, acq, exceptions=False)
            # A direct connection is also flagged on an exception path when the function closes it
            # itself, but not in a `finally` (`conn.close()` after the work): the close is skipped.
            closes = releases_somewhere(node, acq)
            if acq.ref is None:
                if leak is None and exceptions and (acq.pooled or closes):
                    leak = find_leak(node, acq, exceptions=True)
                if leak is not None:
                    ctx.report(acq.call, _message(f"`{acq.desc}`", acq.var, acq.many, leak.why))
                continue
            pooled_leak = find_leak(node, acq, exceptions=True) if leak is None and exceptions else None
            if leak is not None or pooled_leak is not None:
                ctx.defer(acq.call, HelperCheckout(acq.ref, acq.desc, acq.var, leak.why if leak else None,
                                                   pooled_leak.why if pooled_leak else None, closes,
                                                   acq.method, acq.many))

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, HelperCheckout)
        if data.method is not None:
            return _resolve_made(data, index)
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


def _resolve_made(data: HelperCheckout, index: ProjectIndex) -> str | None:
    """``var = x.<method>()`` where ``x`` is what ``data.ref`` returned: a checkout if it returns a handle
    of a kind whose ``<method>()`` checks one out (an engine's ``connect()``, a pool's ``acquire()``)."""
    assert data.method is not None
    made = index.returns_kind(data.ref)
    if made is None:
        return None
    kind = K.Kind(made[0])
    if not K.checks_out(kind, data.method):
        return None
    why = data.why
    if why is None:
        if not (kind in K.POOLED_KINDS or data.closes):
            return None
        why = data.pooled_why
    reach = made[1]
    chain = " → ".join(f"{v}()" for v in reach.via)
    source = f"`{data.call}` on the {kind.value} {chain} returns ({reach.path}, {reach.site})"
    return _message(source, data.var, data.many, why)


def _message(source: str, var: str, many: bool, why: str | None) -> str:
    if many:
        return (f"{source} checks out one connection per item of the comprehension into `{var}`, but {why} "
                f"leaves them unreleased (a failure part-way leaves the earlier ones too): {_ADVICE_MANY}")
    return f"{source} acquires `{var}`, but {why} leaves it unreleased: {_ADVICE}"
