"""PW103 unbounded-pool: an engine or pool whose size, overflow or timeout is left to defaults."""

from __future__ import annotations

import ast

from poolwarden.check import knowledge as K
from poolwarden.check.args import has_splat, keeps_no_postgres_pool, keyword
from poolwarden.check.context import FileContext
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

_TARGETS = K.SQLALCHEMY_ENGINES | K.ASYNCPG_POOLS | K.SIZED_POOLS


class UnboundedPool(Rule):
    CODE = "PW103"
    NAME = "unbounded-pool"
    SUMMARY = "An engine or pool leaves its size, overflow or checkout timeout to library defaults."
    WHAT = """
Flags `create_engine` / `create_async_engine` (SQLAlchemy, SQLModel) that do not set all of
`pool_size`, `max_overflow` and `pool_timeout`, `asyncpg.create_pool` without `max_size`, and
psycopg_pool `ConnectionPool` / `AsyncConnectionPool` without `max_size`. Engines using
`NullPool` / `StaticPool` (e.g. behind PgBouncer), SQLite URLs, and calls whose arguments are
hidden in `**kwargs` are not flagged. poolwarden's own `poolwarden.runtime.engine.create_engine`
sets every bound and is never flagged. Neither are engines made in entry points that run
once per process (`main`, Alembic's `run_migrations_online`, CLI commands) or in test modules.
An engine whose `pool_size` and `max_overflow` are set and only `pool_timeout` is left to its
default is bounded: it is reported as a warning about the 30 s wait, not as an unbounded size.
"""
    WHY = """
Defaults are chosen per pool, but connections are spent per deployment:
processes × engines × (pool_size + max_overflow) must stay under the server's
`max_connections`. With SQLAlchemy's defaults every engine may open 15 connections, and
nobody added it up: in the seed incident, Celery workers × tenant engines × defaults exceeded
the limit and PostgreSQL refused everyone. Explicit bounds make the math visible
(`poolwarden budget` adds them up) and a short `pool_timeout` makes exhaustion fail fast.
"""
    EXAMPLE = """
engine = create_async_engine(settings.DATABASE_URL)
"""
    USE_INSTEAD = """
engine = create_async_engine(
    settings.DATABASE_URL,
    pool_size=5,        # steady connections per process
    max_overflow=2,     # burst
    pool_timeout=5,     # fail fast (503) instead of queueing for 30 s
    pool_recycle=1800,
    pool_pre_ping=True,
)
"""
    NODES = (ast.Call,)

    VALID = [
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=5, max_overflow=2, pool_timeout=5)
"""),
        example("""
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

engine = create_engine("postgresql+psycopg://pgbouncer/app?connect_timeout=5", poolclass=NullPool)
""", note="PgBouncer mode: no pool in the process"),
        example("""
from sqlalchemy import create_engine

engine = create_engine("sqlite:///local.db")
""", note="near miss: SQLite has no server connection limit"),
        example("""
import asyncpg

async def init():
    return await asyncpg.create_pool("postgresql://db/app", min_size=1, max_size=10)
"""),
        example("""
from sqlalchemy import create_engine

def make_engine(url, **pool):
    return create_engine(url, **pool)
""", note="near miss: the bounds are passed in **pool"),
        example("""
from poolwarden.runtime.engine import create_engine

engine = create_engine("postgresql+psycopg://db/app")
""", note="poolwarden's wrapper sets every bound"),
    ]
    INVALID = [
        example("""
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg://db/app?connect_timeout=5", pool_size=5, max_overflow=2)  # error
""", note="sizes chosen, the wait not: a warning that each checkout of an exhausted pool waits 30 s"),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app")  # error
"""),
        example("""
import sqlalchemy as sa

engine = sa.create_engine(DATABASE_URL, pool_size=20)  # error
"""),
        example("""
import asyncpg

async def init():
    return await asyncpg.create_pool("postgresql://db/app")  # error
"""),
        example("""
from psycopg_pool import AsyncConnectionPool

pool = AsyncConnectionPool("dbname=app connect_timeout=5", open=False)  # error
"""),
        example("""
from sqlmodel import create_engine

engine = create_engine(  # error
    settings.DATABASE_URL,
    pool_pre_ping=True,
)
"""),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        assert isinstance(node, ast.Call)
        target = ctx.call(node).target
        if target not in _TARGETS or has_splat(node):
            return
        if (ctx.in_function and ctx.function.runs_once) or ctx.is_test:
            return  # migrations, CLI commands: a pool made once is not multiplied; a test's own engine
        if target in K.SQLALCHEMY_ENGINES:
            if keeps_no_postgres_pool(node, ctx):
                return
            missing = [k for k in K.SQLALCHEMY_POOL_DEFAULTS if keyword(node, k) is None]
            if missing == ["pool_timeout"]:  # the sizes are chosen: what is left is the wait, not the bound
                ctx.report(node, f"`{dotted_text(node.func)}()` sets pool_size and max_overflow but leaves "
                           "pool_timeout at SQLAlchemy's 30 s: when the pool is exhausted each checkout waits "
                           "30 s before failing; set a pool_timeout of a few seconds so exhaustion fails fast",
                           severity="warning")
            elif missing:
                left = ", ".join(f"{k}={K.SQLALCHEMY_POOL_DEFAULTS[k]}" for k in missing)
                ctx.report(node, f"`{dotted_text(node.func)}()` leaves {left} to SQLAlchemy's defaults: "
                           "set explicit bounds so processes × engines × (pool_size + max_overflow) "
                           "stays under max_connections and exhaustion fails fast")
        elif (target in K.ASYNCPG_POOLS or target in K.SIZED_POOLS) and keyword(node, "max_size") is None:
            default = "10" if target in K.ASYNCPG_POOLS else "min_size (4)"
            ctx.report(node, f"`{dotted_text(node.func)}()` leaves max_size to its default ({default}): "
                       "set it explicitly so the deployment's connection math is visible")
