"""PW105 unreleased-connection: an acquisition that some path leaves unreleased."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check.context import Acquisition, FileContext, dotted_text
from poolwarden.check.finding import Pending
from poolwarden.check.rule import Rule, example

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_RELEASE = frozenset({"close", "release", "putconn", "aclose", "dispose", "terminate"})
_ADVICE = "release it in a `finally` block, or acquire it with `with` / `async with`"


@dataclass(frozen=True)
class _Leak:
    line: int
    why: str  # e.g. "the `return` at line 14"


class UnreleasedConnection(Rule):
    CODE = "PW105"
    NAME = "unreleased-connection"
    SUMMARY = "A connection, session or pool checkout that an early return or an exception leaves unreleased."
    WHAT = """
Flags the acquisition — `pool.getconn()`, `await pool.acquire()`, `engine.connect()`,
`psycopg.connect()`, `psycopg2.connect()`, `asyncpg.connect()`, `Session()` /
`SessionLocal()` — assigned to a variable outside a `with` block, when some path leaves the
function without releasing it: an early `return`, a `raise`, a handler that returns, the end
of the function, a `yield` the caller may throw into, or (for pool checkouts) an exception
from any statement between the checkout and a release that is not in a `finally`.
Acquisitions through project helpers (`conn = get_conn()` where `get_conn` returns
`pool.getconn()` in another module) are followed. A connection that is returned, stored on an
object, or handed to another function is the receiver's responsibility and is not flagged.
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
    ]

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        scope = ctx.last_scope
        if scope is None or scope.node is not node or not scope.acquisitions:
            return
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for acq in scope.acquisitions:
            if acq.ref is not None and acq.var not in scope.receivers:
                continue
            if _escapes(node, acq):
                continue
            # Explicit paths (return, raise, end of function) first: they make the clearer message.
            leak = _find_leak(node, acq, exceptions=False)
            if acq.ref is None:
                if leak is None and acq.pooled:
                    leak = _find_leak(node, acq, exceptions=True)
                if leak is not None:
                    ctx.report(acq.call, f"`{acq.desc}` acquires `{acq.var}`, but {leak.why} leaves it "
                               f"unreleased: {_ADVICE}")
                continue
            pooled_leak = _find_leak(node, acq, exceptions=True) if leak is None else None
            if leak is not None or pooled_leak is not None:
                ctx.defer(acq.call, acq.ref, acq.desc, acq.var,
                          leak.why if leak else None, pooled_leak.why if pooled_leak else None)

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        ref, desc, var, why, pooled_why = pending.data
        reach = index.returns_connection(ref)
        if reach is None:
            return None
        if why is None:
            if not reach.pooled:
                return None
            why = pooled_why
        return (f"`{desc}` hands over a connection ({reach.describe()}), but {why} leaves `{var}` "
                f"unreleased: {_ADVICE}")


# -- path analysis ------------------------------------------------------------------------------------
_RELEASED = "released"
_FALL = "fall"


def _find_leak(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition, exceptions: bool) -> _Leak | None:
    var = acq.var
    chain = _locate(func.body, acq.stmt)
    if chain is None:
        return None
    # Scan what follows the acquisition, block by block outwards.
    for block, index, owner in reversed(chain):
        if isinstance(owner, ast.Try) and block is owner.body and _releases_any(owner.finalbody, var):
            return None
        outcome = _scan(block[index + 1:], var, exceptions)
        if isinstance(outcome, _Leak):
            return outcome
        if outcome == _RELEASED:
            return None
    end = func.body[-1]
    return _Leak(end.end_lineno or end.lineno, f"the end of `{func.name}()`")


def _locate(
    stmts: list[ast.stmt], target: ast.stmt, owner: ast.stmt | None = None
) -> list[tuple[list[ast.stmt], int, ast.stmt | None]] | None:
    """The chain of (block, index, owner statement) from the function body down to ``target``."""
    for i, stmt in enumerate(stmts):
        if stmt is target:
            return [(stmts, i, owner)]
        for block in _blocks(stmt):
            found = _locate(block, target, stmt)
            if found is not None:
                return [(stmts, i, owner), *found]
    return None


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    out: list[list[ast.stmt]] = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            out.append(block)
    for handler in getattr(stmt, "handlers", ()):
        out.append(handler.body)
    for case in getattr(stmt, "cases", ()):
        out.append(case.body)
    return out


def _scan(stmts: list[ast.stmt], var: str, pooled: bool) -> str | _Leak:
    for stmt in stmts:
        outcome = _stmt(stmt, var, pooled)
        if outcome != _FALL:
            return outcome
    return _FALL


def _stmt(stmt: ast.stmt, var: str, pooled: bool) -> str | _Leak:
    if _releases(stmt, var):
        return _RELEASED
    if isinstance(stmt, ast.Return):
        if stmt.value is not None and _mentions(stmt.value, var):
            return _RELEASED
        return _Leak(stmt.lineno, f"the `return` at line {stmt.lineno}")
    if isinstance(stmt, ast.Raise):
        return _Leak(stmt.lineno, f"the `raise` at line {stmt.lineno}")
    if isinstance(stmt, ast.If):
        return _branches([stmt.body, stmt.orelse], var, pooled)
    if isinstance(stmt, ast.Match):
        return _branches([c.body for c in stmt.cases] + [[]], var, pooled)
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        inner = _scan(stmt.body, var, pooled)
        return inner if isinstance(inner, _Leak) else _FALL
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        if pooled and any(_has_call(item.context_expr) for item in stmt.items):
            return _Leak(stmt.lineno, f"an exception at line {stmt.lineno}")
        return _scan(stmt.body, var, pooled)
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        if _releases_any(stmt.finalbody, var):  # type: ignore[attr-defined]
            return _RELEASED
        body = _scan(stmt.body, var, pooled)  # type: ignore[attr-defined]
        if isinstance(body, _Leak):
            return body
        outcomes = [_scan(h.body, var, pooled) for h in stmt.handlers]  # type: ignore[attr-defined]
        for outcome in outcomes:
            if isinstance(outcome, _Leak):
                return outcome
        if body == _RELEASED and all(o == _RELEASED for o in outcomes):
            return _RELEASED
        return _FALL
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return _FALL
    if _has_yield(stmt):
        return _Leak(stmt.lineno, f"an exception thrown into the `yield` at line {stmt.lineno}")
    if pooled and _has_call(stmt):
        return _Leak(stmt.lineno, f"an exception at line {stmt.lineno}")
    return _FALL


def _branches(blocks: list[list[ast.stmt]], var: str, pooled: bool) -> str | _Leak:
    outcomes = [_scan(b, var, pooled) for b in blocks]
    for outcome in outcomes:
        if isinstance(outcome, _Leak):
            return outcome
    return _RELEASED if all(o == _RELEASED for o in outcomes) else _FALL


def _releases(stmt: ast.stmt, var: str) -> bool:
    if isinstance(stmt, (ast.Expr, ast.Assign)):
        value = stmt.value
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            attr = value.func.attr
            if attr in _RELEASE:
                recv = value.func.value
                if isinstance(recv, ast.Name) and recv.id == var:
                    return True
                if any(isinstance(a, ast.Name) and a.id == var for a in value.args):
                    return True
        if isinstance(value, ast.Call) and any(isinstance(a, ast.Name) and a.id == var for a in value.args):
            name = dotted_text(value.func).rpartition(".")[2]
            if any(w in name for w in ("put", "release", "close", "return")):
                return True
    return False


def _releases_any(stmts: list[ast.stmt], var: str) -> bool:
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.stmt) and _releases(node, var):
                return True
    return False


def _escapes(func: ast.AST, acq: Acquisition) -> bool:
    """Whether the connection is handed to someone else: stored, passed on, returned, context-managed."""
    var = acq.var
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and _mentions_exact(node.value, var):
            if any(not isinstance(t, ast.Name) for t in node.targets):
                return True
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                if _mentions_exact(expr, var) or (
                    isinstance(expr, ast.Call) and any(_mentions_exact(a, var) for a in expr.args)
                ):
                    return True
        elif isinstance(node, ast.Call) and node is not acq.call:
            name = dotted_text(node.func).rpartition(".")[2]
            passes = any(_mentions_exact(a, var) for a in node.args) or any(
                _mentions_exact(k.value, var) for k in node.keywords
            )
            if passes and not any(w in name for w in ("put", "release", "close")):
                return True
        elif isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value is not None:
            if isinstance(node, ast.Return) and _mentions(node.value, var) and not _mentions_exact(node.value, var):
                return True  # returned inside a tuple / object
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)) and not isinstance(
            getattr(node, "ctx", None), ast.Store
        ):
            values = node.values if isinstance(node, ast.Dict) else node.elts
            if any(_mentions_exact(v, var) for v in values if v is not None):
                return True
    return False


def _mentions_exact(expr: ast.AST | None, var: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == var


def _mentions(expr: ast.AST, var: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == var for n in ast.walk(expr))


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(node))


def _has_yield(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))
