"""PW111 session-state-behind-pooler: session state that PgBouncer's transaction pooling breaks."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from poolwarden.check import knowledge as K
from poolwarden.check.args import string_value
from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.project import ProjectIndex
from poolwarden.check.rule import Rule, example
from poolwarden.check.session_state import SessionState, session_state
from poolwarden.check.sql import sql_text

_POOLER = "from poolwarden.runtime.engine import create_engine\n\nengine = create_engine('postgresql+psycopg://app@pgbouncer/app', pgbouncer=True)\n"


@dataclass(frozen=True, slots=True)
class BehindPooler(Deferred):
    """Session state a call leaves, for the index to weigh against the pooler of its root."""

    root: str
    what: str
    breaks: str
    prepared: bool  # a protocol-level prepared statement: fine with PgBouncer's max_prepared_statements


class SessionStateBehindPooler(Rule):
    CODE = "PW111"
    NAME = "session-state-behind-pooler"
    SUMMARY = "Session state (`SET`, advisory locks, `LISTEN`, prepared statements, temp tables, `WITH HOLD`) behind a transaction-mode pooler."
    WHAT = """
In code that runs behind a transaction-mode pooler (PgBouncer `pool_mode = transaction`), flags the
statements and driver options that leave state on the server connection past the transaction:

- `SET name = ...` / `SET SESSION name ...` (not `SET LOCAL`, `SET TRANSACTION`, `SET CONSTRAINTS`) and
  `set_config(name, value, false)` (in SQL or as SQLAlchemy's `func.set_config`) — also inside an
  explicit transaction: it is still session state;
- session advisory locks: `pg_advisory_lock`, `pg_try_advisory_lock` and their `_shared` forms, in SQL
  or through SQLAlchemy's `func` (the `_xact_` forms are fine), and django-pglocks' `advisory_lock()`;
- `LISTEN`, and asyncpg's `add_listener()`;
- `PREPARE name` (it outlives a rollback; `DEALLOCATE` is not reported, its `PREPARE` is), and
  server-side prepared statements the driver keeps on: asyncpg's
  `connect()` / `create_pool()` without `statement_cache_size=0`, SQLAlchemy's asyncpg dialect without
  `prepared_statement_cache_size=0` (in the URL or `connect_args`), psycopg 3's `connect()` and pools
  without `prepare_threshold=None` (SQLAlchemy `+psycopg` engines through `connect_args`), and
  `execute(..., prepare=True)`;
- `CREATE TEMP|TEMPORARY TABLE|VIEW|SEQUENCE` without `ON COMMIT DROP`, `SELECT ... INTO TEMP`;
- `DECLARE ... CURSOR WITH HOLD`, and psycopg's named cursors with `withhold=True`.

SQL is read where the code passes it to an execute-like call (`execute`, `exec_driver_sql`, `fetch`, ...)
or wraps it (`sqlalchemy.text`, psycopg's `sql.SQL`, Django's `RawSQL`): literal strings, module-level
constants, concatenations and the literal parts of f-strings; keywords in any case, comments and
whitespace anywhere; the bodies of strings and dollar-quoted blocks (`DO $$ ... $$`, functions) are not
read. Test modules are not checked.

When does code run behind a transaction pooler? Decided per project root, in this order:

1. `check --pgbouncer-ini PATH` or the check config says so: `pgbouncer = "transaction"` (or
   `"statement"`; `"session"` turns the rule off whatever the code says), or `pgbouncer-ini =
   "deploy/pgbouncer.ini"`, whose `pool_mode` (in `[pgbouncer]`, or a `pool_mode=` on a `[databases]`
   entry) decides, for every root;
2. otherwise the code says so: poolwarden's `create_engine(..., pgbouncer=True)` (or
   `create_async_engine`, `PoolSettings`), or Django's `DISABLE_SERVER_SIDE_CURSORS = True` — each
   configures a whole engine or database for a transaction pooler. Weaker hints are not taken (measured
   on 14 real services): asyncpg's `statement_cache_size=0` and psycopg's `prepare_threshold=None`
   configure one connection and are also set for PgBouncer's admin console, defensively, or only when
   a pooler is detected at run time; a DSN on port 6432 does not tell the pool mode (session pooling
   is PgBouncer's default). When such a hint is all there is, say it in the config.

Without such a fact the rule is silent, so it is in the default set. The message names the fact. With
`max_prepared_statements` above 0 in the configured pgbouncer.ini (PgBouncer 1.21 and later keep
protocol-level prepared statements working in transaction mode), the drivers' prepared statements are
not reported; SQL `PREPARE` still is (PgBouncer tracks only protocol-level ones).

Not covered: Django's `QuerySet.iterator()` outside a transaction (Django declares that server-side cursor
`WITH HOLD`; `DISABLE_SERVER_SIDE_CURSORS = True` is the fix and a signal), SQL built at run time, and
SQLAlchemy's `stream_results` (its cursor lives inside the transaction, which is fine).
"""
    WHY = """
In transaction mode PgBouncer gives a client a server connection for one transaction only; the next
transaction of the same client may run on another server connection, and this one goes to another
client. Whatever a statement leaves on the connection past the transaction is lost for this client and
inherited by a stranger: a `SET statement_timeout` that another client now runs with (and this one
without), a session advisory lock that `pg_advisory_unlock` cannot release from another connection
(it returns false; the lock stays held until PgBouncer closes the connection), a `LISTEN` whose
notifications go to whichever client has that connection, a prepared statement that is "does not
exist" on the next connection (or, worse, exists there with another client's query), a temporary table
another client sees. These work in development (one client, one connection) and fail under load.
"""
    EXAMPLE = """
# app/db.py: engine = create_engine(DSN, pgbouncer=True)  (poolwarden.runtime.engine)
def report(conn):
    conn.execute("SET statement_timeout = '5s'")
    return conn.execute("SELECT pg_advisory_lock(42)")
"""
    USE_INSTEAD = """
def report(conn):
    with conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '5s'")
        return conn.execute("SELECT pg_advisory_xact_lock(42)")
"""
    SEVERITY = "error"
    NODES = (ast.Call,)
    DEFERRED = BehindPooler

    VALID = [
        example("""
import psycopg


def report(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL statement_timeout = '5s'")
        conn.execute("SELECT pg_advisory_xact_lock(42)")
        conn.execute("SELECT set_config('app.tenant', %s, true)", ("acme",))
        conn.execute("CREATE TEMP TABLE batch (id int) ON COMMIT DROP")
""", note="transaction-scoped forms: behind the pooler (db.py), all fine", db=_POOLER),
        example("""
import psycopg


def report(conn: psycopg.Connection) -> None:
    conn.execute("SET statement_timeout = '5s'")
    conn.execute("LISTEN jobs")
""", note="near miss: nothing says this project runs behind a transaction pooler"),
        example("""
import asyncpg


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn, statement_cache_size=0, timeout=5)


async def run(conn: asyncpg.Connection) -> None:
    await conn.execute("-- SET statement_timeout is done per transaction\\nSELECT 1")
    await conn.execute("DO $$ BEGIN PERFORM set_config('a.b', 'c', false); END $$")
""", note="the statement cache off is the fact; SQL in comments and dollar-quoted bodies is not read"),
        example("""
import psycopg

CURSOR = "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1"


def scan(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute(CURSOR)
        with conn.cursor("big") as cur:
            cur.execute("SELECT * FROM events")
""", note="cursors inside one transaction", db=_POOLER),
    ]
    INVALID = [
        example("""
import psycopg


def report(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("set statement_timeout = '5s'")  # error
        conn.execute("SELECT set_config('app.tenant', %s, false)", ("acme",))  # error
""", note="behind the pooler because db.py makes a poolwarden engine with pgbouncer=True; inside a "
          "transaction, SET is still session state", db=_POOLER),
        example("""
from sqlalchemy import func, select, text


def nightly(session, job_id: int) -> None:
    session.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": job_id})  # error
    session.execute(select(func.pg_advisory_lock(job_id)))  # error
    session.execute(text(f"LISTEN job_{job_id}"))  # error
    session.execute(text("PREPARE q AS SELECT * FROM jobs WHERE id = $1"))  # error
""", db=_POOLER),
        example("""
import asyncpg
from django.db import connection
from django_pglocks import advisory_lock


async def pool(dsn: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, max_size=10, timeout=5)  # error


def renumber(project_id: int) -> None:
    with advisory_lock(f"renumber-{project_id}"):  # error
        sql = "SET statement_timeout = '5s'"
        with connection.cursor() as cursor:
            cursor.execute(sql)  # error
""", note="a project whose settings turn Django's server-side cursors off: asyncpg's statement cache on, "
          "django-pglocks' session lock, a SET through a local",
            settings="DISABLE_SERVER_SIDE_CURSORS = True\n"),
        example("""
import psycopg

SCRATCH = "CREATE TEMPORARY TABLE scratch (id int)"


def load(conn: psycopg.Connection) -> None:
    conn.execute(SCRATCH)  # error
    conn.execute("DECLARE c CURSOR WITH HOLD FOR SELECT 1")  # error
    with conn.cursor("export", withhold=True) as cur:  # error
        cur.execute("SELECT * FROM events", prepare=True)  # error
""", db=_POOLER),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        assert isinstance(node, ast.Call)
        if ctx.is_test:
            return
        info = ctx.call(node)
        found: list[SessionState] = []
        text = sql_text(node, info, ctx)
        if text is not None:
            found.extend(session_state(text))
        found.extend(self._driver(node, ctx, info.target, text is not None or info.db))
        for state in found:
            ctx.defer(node, BehindPooler(ctx.root, state.what, state.breaks, state.prepared))

    def _driver(self, node: ast.Call, ctx: FileContext, target: str | None, runs_sql: bool) -> list[SessionState]:
        """Driver options and calls that keep session state (prepared statements, held cursors, listeners)."""
        if any(k.arg is None for k in node.keywords):
            return []  # **options: what they hold is not known here
        kw = {k.arg: k.value for k in node.keywords if k.arg is not None}
        func = node.func
        attr = func.attr if isinstance(func, ast.Attribute) else ""
        out: list[SessionState] = []
        namespace, _, name = (target or "").rpartition(".")
        if namespace in K.SQL_FUNCTION_NAMESPACES and (name in K.SESSION_LOCK_FUNCTIONS or (
                name == K.SET_CONFIG_FUNCTION and len(node.args) == 3 and _is(node.args[2], False))):
            what = f"`func.{name}()`"
            return [SessionState(f"a session advisory lock ({what})", K.BREAKS_LOCK) if name != K.SET_CONFIG_FUNCTION
                    else SessionState(f"{what} with is_local false", K.BREAKS_SET)]
        if target in K.SESSION_LOCK_CALLS:
            return [SessionState(f"a session advisory lock (`{ast.unparse(func)}()`)", K.BREAKS_LOCK)]
        if target in K.ASYNCPG_CONNECTS and _not_literal(kw.get(K.ASYNCPG_CACHE_OPTION), 0):
            out.append(_prepared(f"asyncpg's statement cache (`{ast.unparse(func)}()` without `statement_cache_size=0`)"))
        elif target in K.PSYCOPG_CONNECTS and _not_literal(kw.get(K.PSYCOPG_PREPARE_OPTION), None):
            out.append(_prepared(f"psycopg's automatic prepared statements (`{ast.unparse(func)}()` without "
                                 "`prepare_threshold=None`)"))
        elif target in K.PSYCOPG_POOLS and _lacks(kw.get(K.PSYCOPG_POOL_KWARGS), K.PSYCOPG_PREPARE_OPTION, None):
            out.append(_prepared(f"psycopg's automatic prepared statements (`{ast.unparse(func)}()` without "
                                 "`kwargs={'prepare_threshold': None}`)"))
        elif target in K.SQLALCHEMY_ENGINE_FACTORIES:
            out.extend(_engine(node, ctx, kw))
        if runs_sql and kw.get(K.PREPARE_KEYWORD) is not None and _is(kw[K.PREPARE_KEYWORD], True):
            out.append(_prepared(f"a prepared statement (`{attr}(..., prepare=True)`)"))
        if attr == K.CURSOR_METHOD and K.WITHHOLD_KEYWORD in kw and _is(kw[K.WITHHOLD_KEYWORD], True) and ctx.db_aware:
            out.append(SessionState("a `WITH HOLD` cursor (`cursor(..., withhold=True)`)", K.BREAKS_HOLD))
        if attr == K.LISTENER_METHOD and ctx.db_aware and len(node.args) == 2:
            out.append(SessionState(f"`LISTEN` (`{ast.unparse(func)}()`)", K.BREAKS_LISTEN))
        return out

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, BehindPooler)
        pooler = index.pooler(data.root)
        if pooler is None or (data.prepared and pooler.prepared_statements):
            return None
        return f"{data.what} behind a transaction-mode pooler ({pooler.where}): {data.breaks}"


def _engine(node: ast.Call, ctx: FileContext, kw: dict[str, ast.expr]) -> list[SessionState]:
    """A SQLAlchemy engine on asyncpg or psycopg 3 whose URL the code spells, with the driver's cache on."""
    url = string_value(node.args[0] if node.args else kw.get("url"), ctx)
    if url is None:
        return []
    connect_args = kw.get(K.CONNECT_ARGS)
    if connect_args is not None and not isinstance(connect_args, ast.Dict):
        return []
    if K.ASYNCPG_DRIVER in url:
        if f"{K.SQLALCHEMY_ASYNCPG_CACHE_OPTION}=0" in url or not _lacks(connect_args, K.SQLALCHEMY_ASYNCPG_CACHE_OPTION, 0):
            return []
        return [_prepared("SQLAlchemy's asyncpg prepared statement cache (no `prepared_statement_cache_size=0`)")]
    if url.startswith(("postgresql+psycopg:", "postgresql+psycopg_async:", "postgres+psycopg:")) \
            and _lacks(connect_args, K.PSYCOPG_PREPARE_OPTION, None):
        return [_prepared("psycopg's automatic prepared statements (no `connect_args={'prepare_threshold': None}`)")]
    return []


def _prepared(what: str) -> SessionState:
    return SessionState(what, K.BREAKS_DRIVER_PREPARE, prepared=True)


def _is(expr: ast.expr, literal: object) -> bool:
    return isinstance(expr, ast.Constant) and type(expr.value) is type(literal) and expr.value == literal


def _not_literal(expr: ast.expr | None, literal: object) -> bool:
    """The option is missing, or a literal other than ``literal`` (a computed value is not judged)."""
    return expr is None or (isinstance(expr, ast.Constant) and not _is(expr, literal))


def _lacks(options: ast.expr | None, key: str, literal: object) -> bool:
    """A dict of options (None: none given) that does not set ``key`` to ``literal``; a computed dict is not judged."""
    if options is None:
        return True
    if not isinstance(options, ast.Dict) or any(k is None for k in options.keys):
        return False
    for k, v in zip(options.keys, options.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == key:
            return not _is(v, literal) and isinstance(v, ast.Constant)
    return True
