"""PW101 swallowed-db-error: an ``except`` that turns a database outage into a normal answer."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.context import STDLIB_ROOTS, FileContext
from poolwarden.check.finding import Deferred, Pending, Severity, Span
from poolwarden.check.handlers import hands_value, is_retry_loop, swallow_outcome, walk_handler
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = ("callers cannot tell 'no' from 'could not check'; re-raise transient errors "
           "(`raise_if_transient(exc)` or `if is_transient(exc): raise`)")



@dataclass(frozen=True, slots=True)
class Swallow(Deferred):
    """A handler that swallows what its ``try`` body raises, if that body reaches the database."""

    caught: str  # "`except Exception`"
    outcome: str  # "`return None`", "a log line", ...
    refs: tuple[tuple[str, str], ...]  # project calls in the body: (ref, "name() at line N")
    strict: bool  # False: only a DB call one hop away counts (a best-effort side step otherwise)
    handler_refs: tuple[str, ...]  # project calls in the handler (reaching the DB: it fails again)
    site: str | None  # a direct DB call in the body, when the body has one

class SwallowedDbError(Rule):
    CODE = "PW101"
    NAME = "swallowed-db-error"
    SUMMARY = "An `except` turns a database failure into a normal return, `pass`, a default or a log line."
    WHAT = """
Flags an `except` clause that catches a database outage — a broad `except Exception` / bare
`except:` or a driver error such as `OperationalError` — around code that touches the database
(directly, or through any chain of calls across modules), and then carries on as if nothing
failed: `return None`, `pass`, a default value, `continue`, or only a log line.

Severity: `error` when the caller receives a made-up value (the lie): `return <value>`, a
default for what the `try` was computing (`stats = None`), or an implicit `None` (a bare `return`,
or falling off the end) from a function that otherwise returns values;
`warning` when work is silently skipped (a log line, `pass`, `continue` in a function that
returns nothing). A `return` that carries the error (`return None, str(exc)`) is accepted unless
it answers 2xx/4xx (an outage is not the client's fault).

A handler that neither returns nor assigns anything (it logs, passes or falls through), around calls that
reach the database two or more calls deep, is taken as a best-effort side step and not flagged,
except in a Celery task.

Not flagged: a handler that re-raises (`raise`, `raise X from exc`, Celery's `self.retry()`),
one that classifies and re-raises transient errors (`raise_if_transient(exc)`, or
`if is_transient(exc): raise` with any `*transient*` predicate), one that answers 5xx, a narrow
`except` of a non-database error (`ValueError`, `KeyError`) or of a business outcome
(`IntegrityError`, `NoResultFound`), a handler that goes to the database itself (it fails again
during an outage), one that returns the error in an explicit slot (`return None, str(exc)`),
retry and polling loops, health checks (whose job is to say "down"), and test modules.
"""
    WHY = """
During an outage the database raises ("FATAL: sorry, too many clients already"). A handler that
returns `None` makes that indistinguishable from "no row": in the seed incident, customers were
told they had no subscription. The same value must never mean both "the answer is no" and
"I failed to get the answer". Swallows come in ecosystems: the service layer above the
selector often catches the re-raised error again, which is why this rule follows calls across
modules.
"""
    EXAMPLE = """
async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription).where(...))
        return result.scalar_one_or_none()
    except Exception:
        logger.warning("Failed to fetch subscription")
        return None
"""
    USE_INSTEAD = """
from poolwarden.runtime.errors import raise_if_transient

async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription).where(...))
        return result.scalar_one_or_none()
    except Exception as exc:
        raise_if_transient(exc)  # an outage propagates: 503 / retry upstream
        logger.warning("Failed to fetch subscription", exc_info=exc)
        return None
"""
    DEFERRED = Swallow
    NODES = (ast.Try, getattr(ast, "TryStar", ast.Try), ast.While, ast.For, ast.AsyncFor,
             ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)

    VALID = [
        example("""
import logging
from sqlalchemy import select
log = logging.getLogger(__name__)

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub).where(Sub.org == org_id))).scalar_one_or_none()
    except Exception:
        log.exception("lookup failed")
        raise
"""),
        example("""
from sqlalchemy import select
from poolwarden.runtime.errors import raise_if_transient

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception as exc:
        raise_if_transient(exc)
        return None
"""),
        example("""
from sqlalchemy import select
from .errors import is_transient_db_error

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception as exc:
        if is_transient_db_error(exc):
            raise
        return None
""", errors="def is_transient_db_error(exc):\n    return True\n"),
        example("""
import json
import sqlalchemy

def parse_settings(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return {}
""", note="near miss: a narrow except of a non-DB error, no database in the try body"),
        example("""
from sqlalchemy.exc import IntegrityError

def create_user(session, user):
    try:
        session.add(user)
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return user
""", note="near miss: a unique violation is a business outcome, not an outage"),
        example("""
from sqlalchemy import text

async def health(db):
    try:
        await db.execute(text("SELECT 1"))
        return {"db": "ok"}
    except Exception:
        return {"db": "down"}
""", note="near miss: a health check's job is to report the failure"),
        example("""
from .repo import load_user

def handler(user_id):
    try:
        return load_user(user_id)
    except Exception:
        return {"error": "unavailable"}, 503
""", repo="import psycopg2\n\ndef load_user(uid):\n    with psycopg2.connect('dbname=x connect_timeout=3') as c:\n        return c.cursor().execute('select 1')\n"),
        example("""
import psycopg2

def run_query(conn, sql):
    data, error = None, None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            data = cur.fetchall()
    except psycopg2.DatabaseError as e:
        error = str(e)
    return data, error
""", note="near miss: the failure travels in an explicit error slot"),
        example("""
import requests
from sqlalchemy import text

def sync(session, url):
    try:
        session.execute(text("SELECT 1"))
        return requests.get(url, timeout=5).json()
    except requests.ConnectionError:
        return None
""", note="near miss: another library's ConnectionError is not a database outage"),
        example("""
import logging
import psycopg2

def stats(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            return cur.fetchone()[0]
    except psycopg2.OperationalError:
        raise
    except Exception:
        logging.exception("stats failed")
        return None
""", note="an earlier clause takes every psycopg2 outage: none reaches `except Exception`"),
        example("""
from .selectors import cached_plan

def plan_name(db, org_id):
    try:
        plan = cached_plan(db, org_id)
    except Exception:
        return None
    return plan.name if plan else None
""", note="the callee keeps its own DB errors (`except Exception` with no raise): none reaches this "
            "handler — the swallow, if any, is the callee's finding",
            selectors="import logging\nfrom sqlalchemy import select\n\ndef cached_plan(db, org_id):\n"
                      "    try:\n        return db.execute(select(Plan)).scalar_one_or_none()\n"
                      "    except Exception:\n        logging.exception('plan lookup failed')\n"
                      "        return None\n"),
    ]
    INVALID = [
        example("""
import logging
from sqlalchemy import select
logger = logging.getLogger(__name__)

async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription))
        return result.scalar_one_or_none()
    except Exception:  # error
        logger.warning("Failed to fetch subscription")
        return None
"""),
        example("""
from .selectors import get_active_subscription

async def can_place_call(db, org_id):
    try:
        sub = await get_active_subscription(db, org_id)
    except Exception:  # error
        return False
    return sub is not None
""", note="cross-module: the DB call lives in another module",
            selectors="from sqlalchemy import select\n\nasync def get_active_subscription(db, org_id):\n    result = await db.execute(select(Sub))\n    return result.scalar_one_or_none()\n"),
        example("""
import asyncpg

async def count_users(pool):
    try:
        return await pool.fetchval("SELECT count(*) FROM users")
    except asyncpg.PostgresError:  # error
        return 0
"""),
        example("""
import psycopg2

def mark_paid(conn, invoice_id):
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE invoice SET paid = true WHERE id = %s", (invoice_id,))
        conn.commit()
    except:  # error
        pass
"""),
        example("""
from celery import shared_task
from .services import bill_call

@shared_task
def process_usage(call_ids):
    for call_id in call_ids:
        try:
            bill_call(call_id)
        except Exception:  # error
            continue
""", note="a Celery task, two hops across modules: skipping the item loses the billing",
            services="from .repo import save_usage\n\ndef bill_call(cid):\n    save_usage(cid)\n",
            repo="from sqlalchemy import text\n\ndef save_usage(cid, session=None):\n    session.execute(text('insert into usage values (:c)'), {'c': cid})\n"),
        example("""
from .forge import app

async def cached_inputs(label):
    try:
        block = await app.DATABASE.scripts.get_block(label)
    except Exception:  # error
        return None
    return block.inputs
""", note="a module-level object declared by type (`app: App`, set at start-up), its attribute's "
            "repository, three modules away",
            forge="from typing import TYPE_CHECKING\nfrom .container import App\n\nif TYPE_CHECKING:\n"
                  "    app: App\nelse:\n    app = Holder()\n",
            container="from .db import AgentDB\n\nclass App:\n    DATABASE: AgentDB\n",
            db="from sqlalchemy.ext.asyncio import async_sessionmaker\n\n"
               "class ScriptsRepository:\n    def __init__(self, maker):\n        self.Session = maker\n\n"
               "    async def get_block(self, label):\n        async with self.Session() as session:\n"
               "            return await session.scalar(label)\n\n"
               "class AgentDB:\n    def __init__(self, engine):\n"
               "        self.scripts = ScriptsRepository(async_sessionmaker(engine))\n"),
        example("""
from .providers import UsersHandler

async def is_member(users: UsersHandler, email):
    try:
        return await users.get_user(email) is not None
    except Exception:  # error
        return False
""", note="a name re-exported by `from .handlers import *`; an attribute set by the base class's "
            "`__init__`, typed by an abstract class whose implementation (another module) runs the query",
            providers="from .handlers import *\nfrom .pg import *\n",
            handlers="from abc import ABC, abstractmethod\n\nclass ConnectionManager(ABC):\n"
                     "    @abstractmethod\n    async def fetchrow(self, query, *args):\n        ...\n\n"
                     "class Handler(ABC):\n    def __init__(self, manager: ConnectionManager):\n"
                     "        self.manager = manager\n\nclass UsersHandler(Handler):\n"
                     "    async def get_user(self, email):\n"
                     "        return await self.manager.fetchrow('select 1 from users where email = $1', email)\n",
            pg="import asyncpg\nfrom .handlers import ConnectionManager\n\n"
               "class PostgresConnectionManager(ConnectionManager):\n"
               "    def __init__(self, pool: asyncpg.Pool):\n        self.pool = pool\n\n"
               "    async def fetchrow(self, query, *args):\n        async with self.pool.acquire() as conn:\n"
               "            return await conn.fetchrow(query, *args)\n"),
    ]

    def __init__(self) -> None:
        self.loops: list[list[ast.AST]] = [[]]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.loops.append([])
        elif isinstance(node, (ast.While, ast.For, ast.AsyncFor)):
            self.loops[-1].append(node)

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.loops.pop()
            return
        if isinstance(node, (ast.While, ast.For, ast.AsyncFor)):
            self.loops[-1].pop()
            return
        if not isinstance(node, ast.Try) and type(node).__name__ != "TryStar":
            return
        frame = ctx.frame_of(node)  # type: ignore[arg-type]
        if frame is None or not (frame.cited() or frame.refs) or not ctx.in_function or ctx.is_test:
            return
        func = ctx.function.node
        if func is not None and K.HEALTH_FUNCTION.search(func.name):
            return
        retry = any(is_retry_loop(loop) for loop in self.loops[-1])
        for n, handler in enumerate(node.handlers):  # type: ignore[attr-defined]
            caught = _catches_outage(handler.type, ctx)
            if caught is None:
                continue
            if any(_takes_every_outage(h.type, ctx) for h in node.handlers[:n]):  # type: ignore[attr-defined]
                break  # an earlier clause of this try already takes the outage: none reaches this one
            outcome = swallow_outcome(handler, retry)
            if outcome is None:
                continue
            handler_calls = [ctx.call(n) for n in walk_handler(handler.body) if isinstance(n, ast.Call)]
            if any(c.db for c in handler_calls):
                continue  # the handler itself goes to the database: during an outage it raises again
            handler_refs = tuple(c.ref for c in handler_calls if c.ref is not None)
            span = _header(handler)
            # Handing a wrong value to the caller is the seed's lie (error); skipping work with a
            # log line is a silent loss the team may have chosen (warning).
            severity: Severity = "error" if hands_value(handler, node, ctx.function.node) else "warning"
            site = frame.cited()
            if site and not handler_refs:
                ctx.report(handler, f"{caught} turns a database failure (`{site}`) into "
                           f"{outcome}: {_ADVICE}", span=span, severity=severity)
            elif site:
                # The body goes to the database; whether the handler does too (then it fails again
                # during an outage) is known once its callees are.
                ctx.defer(handler, Swallow(caught, outcome, (), True, handler_refs, site),
                          span=span, severity=severity)
            else:
                # A handler that only logs (no value handed on) after a deep chain of calls is a
                # best-effort side step; it is flagged when the DB is one call away or in a task.
                explicit = any(isinstance(n, (ast.Return, ast.Assign, ast.AnnAssign)) for n in walk_handler(handler.body))
                strict = explicit or ctx.function.is_celery_task
                ctx.defer(handler, Swallow(caught, outcome, tuple(frame.refs), strict, handler_refs, None),
                          span=span, severity=severity)

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, Swallow)
        if any(index.reaches_db(ref) for ref in data.handler_refs):
            return None  # the handler itself goes to the database
        if data.site is not None:
            return f"{data.caught} turns a database failure (`{data.site}`) into {data.outcome}: {_ADVICE}"
        for ref, desc in data.refs:
            reach = index.raises_db(ref)
            if reach is not None and (data.strict or len(reach.via) <= 1):
                return (f"{data.caught} turns a database failure (`{desc}` reaches {reach.describe()}) "
                        f"into {data.outcome}: {_ADVICE}")
        return None


def _header(handler: ast.ExceptHandler) -> Span:
    end = handler.type if handler.type is not None else None
    if end is None:
        return Span(handler.lineno, handler.col_offset + 1, handler.lineno, handler.col_offset + 7)
    end_node = handler
    return Span(handler.lineno, handler.col_offset + 1, end.end_lineno or end_node.lineno,
                (end.end_col_offset or 0) + 1)


def _takes_every_outage(expr: ast.expr | None, ctx: FileContext) -> bool:
    """A clause naming a driver's own base or outage class (``except psycopg2.OperationalError``): every
    outage of that driver stops there. (SQLAlchemy's classes do not qualify: it does not wrap every
    connect error of the async drivers.)"""
    elts = expr.elts if isinstance(expr, ast.Tuple) else [expr] if expr is not None else []
    return any((ctx.qualname(e) or "") in K.OUTAGE_CLAUSES for e in elts)


def _catches_outage(expr: ast.expr | None, ctx: FileContext) -> str | None:
    if expr is None:
        return "bare `except:`"
    if isinstance(expr, ast.Tuple):
        for elt in expr.elts:
            if _catches_outage(elt, ctx) is not None:
                return f"`except ({dotted_text(elt)}, ...)`" if len(expr.elts) > 1 else _catches_outage(elt, ctx)
        return None
    text = dotted_text(expr)
    last = text.rpartition(".")[2]
    if last in K.BROAD_EXCEPTIONS:
        return f"`except {text}`"
    if last in K.TRANSIENT_CAPABLE:
        qual = ctx.qualname(expr)
        root = (qual or text).partition(".")[0]
        if last == "Error" and root not in K.DB_MODULES:
            return None
        if qual is not None and root not in K.DB_MODULES and root not in STDLIB_ROOTS:
            return None  # another library's error (trino's DatabaseError, requests' ConnectionError)
        return f"`except {text}`"
    return None
