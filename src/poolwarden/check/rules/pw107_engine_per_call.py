"""PW107 engine-per-call: an engine or pool created per call, request or tenant, unbounded."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.args import keeps_no_postgres_pool
from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_CREATORS = K.SQLALCHEMY_ENGINES | K.ASYNCPG_POOLS | K.LIBPQ_POOLS


@dataclass(frozen=True, slots=True)
class TenantCache(Deferred):
    """An engine cached per key: a finding unless the module (all of it) has a cleanup function."""

    module: str  # "root:dotted.module"
    message: str


class EnginePerCall(Rule):
    CODE = "PW107"
    NAME = "engine-per-call"
    SUMMARY = "An engine or pool is created per call, request or tenant with no bound and no disposal."
    WHAT = """
Flags an engine or pool constructor (`create_engine`, `create_async_engine`,
`asyncpg.create_pool`, psycopg_pool / psycopg2 pools) inside a function when the result is
kept in a local that is neither returned, stored nor disposed, used inline
(`create_engine(url).connect()`), or put in a cache keyed per tenant (`engines[tenant] = ...`)
in a module that never bounds or disposes that cache. Factories that return the engine,
module-level singletons (`global engine`), attributes set once, and `lru_cache(maxsize=N)`
factories are not flagged, nor entry points that run once per process (`main`, `cli`,
Alembic's `run_migrations_online`, CLI commands, `lifespan`), test modules, and engines that pool
no PostgreSQL connection (`poolclass=NullPool`, a literal `sqlite://` URL).
"""
    WHY = """
Each engine owns a pool. An engine per call opens fresh connections every time and leaves the
old pool to the garbage collector; an engine per tenant kept forever multiplies the pool by
the number of tenants a process ever served. In the seed incident, each reseller tenant had
its own engine in every Celery worker: workers × tenants × (pool_size + max_overflow) passed
max_connections long before anyone noticed.
"""
    EXAMPLE = """
_engines = {}

def engine_for(tenant):
    if tenant.id not in _engines:
        _engines[tenant.id] = create_async_engine(tenant.dsn)
    return _engines[tenant.id]
"""
    USE_INSTEAD = """
from poolwarden.runtime.tenants import EngineRegistry

engines = EngineRegistry(max_engines=8, pool_size=2, max_overflow=0)  # LRU, disposed safely

def engine_for(tenant):
    return engines.get(tenant.id, tenant.dsn)
"""
    DEFERRED = TenantCache
    NODES = (ast.Call,)

    VALID = [
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

def make_engine(url):
    return create_async_engine(url, pool_size=5, max_overflow=0, pool_timeout=5)
""", note="a central factory"),
        example("""
from sqlalchemy import create_engine

_engine = None

def get_engine():
    global _engine
    if _engine is None:
        _engine = create_engine(URL, pool_size=5, max_overflow=0, pool_timeout=5)
    return _engine
"""),
        example("""
from functools import lru_cache
from sqlalchemy import create_engine

@lru_cache(maxsize=8)
def tenant_engine(dsn):
    return create_engine(dsn, pool_size=2, max_overflow=0, pool_timeout=5)
"""),
        example("""
from sqlalchemy import create_engine

def migrate(url):
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
""", note="a one-off engine that is disposed"),
        example("""
from collections import OrderedDict
from sqlalchemy import create_engine

_engines = OrderedDict()

def engine_for(tenant):
    if tenant not in _engines:
        if len(_engines) >= 8:
            _, old = _engines.popitem(last=False)
            old.dispose()
        _engines[tenant] = create_engine(DSN[tenant], pool_size=2, max_overflow=0, pool_timeout=5)
    return _engines[tenant]
"""),
        example("""
from sqlalchemy import create_engine

_engines = {}

def engine_for(tenant, dsn):
    if tenant not in _engines:
        _engines[tenant] = create_engine(dsn, pool_size=2, max_overflow=0, pool_timeout=5)
    return _engines[tenant]

def dispose_all():
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
""", note="the module's cleanup path comes after the cache: order does not matter"),
        example("""
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

def check_uri(uri):
    engine = create_engine(uri, poolclass=NullPool, connect_args={"connect_timeout": 3})
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
""", note="NullPool keeps no connection: an engine per validation leaves nothing behind"),
        example("""
from sqlalchemy import create_engine

def make_session_factory():
    engine = create_engine("sqlite://")
    return engine.connect
""", note="a literal SQLite URL: no PostgreSQL pool (a test fixture's in-memory database)"),
    ]
    INVALID = [
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

_engines = {}

def engine_for(tenant_id, dsn):
    if tenant_id not in _engines:
        _engines[tenant_id] = create_async_engine(dsn, pool_size=5, max_overflow=10, pool_timeout=30)  # error
    return _engines[tenant_id]
"""),
        example("""
from sqlalchemy import create_engine, text

def count_users(url):
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=5)  # error
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM users")).scalar()
"""),
        example("""
from sqlalchemy import create_engine, text

def ping(url):
    with create_engine(url, pool_size=1, max_overflow=0, pool_timeout=5).connect() as conn:  # error
        conn.execute(text("SELECT 1"))
"""),
        example("""
from functools import cache
from sqlalchemy import create_engine

@cache
def tenant_engine(dsn):
    return create_engine(dsn, pool_size=2, max_overflow=0, pool_timeout=5)  # error
"""),
        example("""
import asyncpg

class Tenants:
    def __init__(self):
        self.pools = {}

    async def pool(self, tenant, dsn):
        if tenant not in self.pools:
            self.pools[tenant] = await asyncpg.create_pool(dsn, max_size=5)  # error
        return self.pools[tenant]
"""),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        assert isinstance(node, ast.Call)
        if not ctx.in_function:
            return
        target = ctx.call(node).target
        if target not in _CREATORS:
            return
        scope = ctx.function
        func = scope.node
        assert func is not None
        if scope.runs_once or ctx.is_test:
            return  # once per process; or a test's own engine (a fresh database per test is the point)
        if target in K.SQLALCHEMY_ENGINES and keeps_no_postgres_pool(node, ctx):
            return  # NullPool / SQLite: no pool of PostgreSQL connections is left behind
        what = f"`{dotted_text(node.func)}()`"
        parent, holder = _placement(func, node)
        unbounded_cache = _unbounded_cache(func.decorator_list, ctx)
        if unbounded_cache:
            ctx.report(node, f"{what} in `{func.name}()` is cached by an unbounded `{unbounded_cache}`: "
                       "one pool per distinct argument, never disposed; bound the cache and dispose evicted engines")
            return
        if isinstance(parent, (ast.Return, ast.Yield)):
            return  # a factory: whoever calls it decides how long the engine lives
        if isinstance(parent, ast.Attribute) and isinstance(parent.value, ast.Call):
            ctx.report(node, f"{what} is created and used inline in `{func.name}()`: a new pool on every "
                       "call, never disposed; create the engine once per process and reuse it")
            return
        if isinstance(holder, ast.Name):
            name = holder.id
            if name in scope.globals:
                return
            holder = _cache_store(func, name) or holder
        if isinstance(holder, ast.Name):
            name = holder.id
            if _escapes(func, name):
                return
            ctx.report(node, f"{what} creates an engine per call of `{func.name}()` (local `{name}`, neither "
                       "returned, stored nor disposed); create it once per process and reuse it")
        elif isinstance(holder, ast.Subscript):
            if _mentions_bound(func):
                return
            # Whether the module has a cleanup path is known once all of it is walked: decide then.
            ctx.defer(node, TenantCache(f"{ctx.root}:{ctx.module}",
                                        f"{what} is cached per key in `{dotted_text(holder.value)}` with no bound "
                                        "and no disposal: one pool per tenant for the life of the process; bound "
                                        "the cache (LRU) and dispose evicted engines"))

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, TenantCache)
        summary = index.modules.get(data.module)
        if summary is not None and any(
            word in qual.lower() for qual in summary.functions for word in K.CLEANUP_FUNCTION_WORDS
        ):
            return None  # a function of the module disposes or evicts the cached engines
        return data.message


def _placement(func: ast.AST, call: ast.Call) -> tuple[ast.AST | None, ast.expr | None]:
    """The node directly above the call (skipping ``await``) and the assignment target, if any."""
    for node in ast.walk(func):
        for child in ast.iter_child_nodes(node):
            inner = child.value if isinstance(child, ast.Await) else child
            if inner is not call:
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                return node, target
            return node, None
    return None, None


def _cache_store(func: ast.AST, name: str) -> ast.Subscript | None:
    """``cache[key] = name`` (or ``self.cache[key] = name``) somewhere in the function."""
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == name:
            for target in node.targets:
                if isinstance(target, ast.Subscript):
                    return target
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault" \
                and len(node.args) == 2 and isinstance(node.args[1], ast.Name) and node.args[1].id == name:
            return ast.Subscript(value=node.func.value, slice=node.args[0], ctx=ast.Store())
    return None


def _escapes(func: ast.AST, name: str) -> bool:
    for node in ast.walk(func):
        if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None:
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value)):
                return True
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == name and node.func.attr in ("dispose", "close", "terminate"):
                return True
            if any(isinstance(a, ast.Name) and a.id == name for a in node.args):
                return True  # handed to someone else (registry, closing(), ...)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id == name:
            if any(not isinstance(t, ast.Name) for t in node.targets):
                return True
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if isinstance(item.context_expr, ast.Name) and item.context_expr.id == name:
                    return True
    return False


def _mentions_bound(func: ast.AST) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and node.attr in ("popitem", "dispose", "pop", "close"):
            return True
        if isinstance(node, ast.Delete):
            return True
        if isinstance(node, ast.Compare) and any(
            isinstance(n, ast.Call) and dotted_text(n.func) == "len" for n in ast.walk(node)
        ):
            return True
    return False


def _unbounded_cache(decorators: list[ast.expr], ctx: FileContext) -> str | None:
    for dec in decorators:
        call = dec if isinstance(dec, ast.Call) else None
        name = ctx.qualname(call.func if call else dec) or dotted_text(call.func if call else dec)
        if name in K.MEMO_DECORATORS:
            if name.endswith("cache") and not name.endswith("lru_cache") and not name.endswith("alru_cache"):
                return "@cache"
            if call is None:
                return None if "lru" in name else "@cache"  # bare @lru_cache keeps 128
            maxsize = next((k.value for k in call.keywords if k.arg == "maxsize"), call.args[0] if call.args else None)
            if maxsize is None:
                return None  # lru_cache() defaults to 128
            if isinstance(maxsize, ast.Constant) and maxsize.value is None:
                return "@lru_cache(maxsize=None)"
    return None
