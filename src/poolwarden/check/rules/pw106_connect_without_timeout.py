"""PW106 connect-without-timeout: a libpq-family connect with no connect timeout."""

from __future__ import annotations

import ast

from poolwarden.check import knowledge as K
from poolwarden.check.args import dict_keys, has_splat, keyword, string_value
from poolwarden.check.context import FileContext
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

_TARGETS = K.LIBPQ_CONNECTS | K.LIBPQ_POOLS | K.SQLALCHEMY_ENGINES
_ADVICE = ("libpq waits forever by default, and applies `connect_timeout` per host/IP, so set it "
           "(e.g. `connect_timeout=5`) and cap the total")


class ConnectWithoutTimeout(Rule):
    CODE = "PW106"
    NAME = "connect-without-timeout"
    SUMMARY = "A psycopg / psycopg2 connection, pool or engine without a connect timeout."
    WHAT = """
Flags `psycopg.connect`, `psycopg.AsyncConnection.connect`, `psycopg2.connect`, psycopg_pool
and psycopg2 pools, and SQLAlchemy engines on a libpq driver (`postgresql://`,
`postgresql+psycopg2://`, `postgresql+psycopg://`) that set no `connect_timeout`: not as a
keyword, not in `connect_args` / `kwargs`, not in the DSN or URL. asyncpg is not flagged: it
has its own 60 s default. A DSN or URL the code does not spell out (read from settings or env,
built by a helper or `make_url()`) is reported as a warning that says so: it may carry
`connect_timeout` itself. For engines that holds for synchronous `create_engine` only (an async
engine's URL most likely names asyncpg). Flask-SQLAlchemy's `SQLAlchemy(engine_options={...})`
(or a class derived from it in the same module) is a warning when the options it spells out set no
`connect_args` `connect_timeout`. A `**kwargs` splat is trusted.
"""
    WHY = """
libpq's default connect timeout is infinite, and the timeout it has applies to each host or
IP address in turn. In the seed incident, requests hung 24 minutes while psycopg retried 12
Neon IP addresses, each with its own timeout, and only restarting the machines helped.
A timeout turns a hang into an error the application can answer with 503 and retry.
"""
    EXAMPLE = """
conn = psycopg.connect(settings.DATABASE_URL)
"""
    USE_INSTEAD = """
conn = psycopg.connect(settings.DATABASE_URL, connect_timeout=5)
"""
    NODES = (ast.Call,)

    VALID = [
        example("""
import psycopg

conn = psycopg.connect(DATABASE_URL, connect_timeout=5)
"""),
        example("""
import psycopg2

conn = psycopg2.connect("host=db dbname=app connect_timeout=5")
"""),
        example("""
from sqlalchemy import create_engine

engine = create_engine(
    "postgresql+psycopg://db/app",
    connect_args={"connect_timeout": 5},
    pool_size=5, max_overflow=0, pool_timeout=5,
)
"""),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=5, max_overflow=0, pool_timeout=5)
""", note="near miss: asyncpg has its own connect timeout"),
        example("""
from psycopg_pool import ConnectionPool

pool = ConnectionPool("dbname=app", kwargs={"connect_timeout": 5}, max_size=10)
"""),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine
from .settings import settings

engine = create_async_engine(settings.DATABASE_URL, pool_size=5, max_overflow=0, pool_timeout=5)
""", note="near miss: an async engine's URL from settings most likely names asyncpg"),
        example("""
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy(engine_options={"pool_size": 5, "connect_args": {"connect_timeout": 5}})
"""),
    ]
    INVALID = [
        example("""
from flask_sqlalchemy import SQLAlchemy

class AppSQLAlchemy(SQLAlchemy):
    pass

db = AppSQLAlchemy(engine_options={"pool_size": 5, "max_overflow": 0})  # error
""", note="a warning: Flask-SQLAlchemy's engine options are spelled out, its URI is not"),
        example("""
from sqlalchemy import create_engine
from .settings import settings

engine = create_engine(settings.DATABASE_URL, pool_size=5, max_overflow=0, pool_timeout=5)  # error
""", note="a warning: the URL, read from settings, may carry connect_timeout itself"),
        example("""
import psycopg

conn = psycopg.connect(DATABASE_URL)  # error
"""),
        example("""
import psycopg

async def listen():
    conn = await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)  # error
    await conn.close()
"""),
        example("""
from sqlalchemy import create_engine

engine = create_engine(  # error
    "postgresql+psycopg2://app@db/app",
    pool_size=5, max_overflow=0, pool_timeout=5,
)
"""),
        example("""
import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 10, "dbname=app")  # error
"""),
        example("""
import os
from sqlalchemy import create_engine

URL = os.environ.get("DATABASE_URL", "postgresql://localhost/app")
engine = create_engine(URL, pool_size=5, max_overflow=0, pool_timeout=5)  # error
"""),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        assert isinstance(node, ast.Call)
        target = ctx.call(node).target
        if _flask_sqlalchemy(target, ctx):
            self._flask(node, ctx)
            return
        if target not in _TARGETS or has_splat(node):
            return
        if target in K.LIBPQ_CONNECTS or target in K.LIBPQ_POOLS:
            if keyword(node, "connect_timeout") is not None:
                return
            kwargs = keyword(node, "kwargs")
            if kwargs is not None and (dict_keys(kwargs) is None or "connect_timeout" in (dict_keys(kwargs) or ())):
                return
            unseen = False  # a DSN the code does not spell out (settings, env, a helper's result)
            for arg in (*node.args, keyword(node, "dsn"), keyword(node, "conninfo")):
                if arg is None or (isinstance(arg, ast.Constant) and not isinstance(arg.value, str)):
                    continue  # absent, or a pool's minconn / maxconn
                text = string_value(arg, ctx)
                if text is not None and "connect_timeout" in text:
                    return
                unseen = unseen or text is None
            if unseen:
                ctx.report(node, f"`{dotted_text(node.func)}()` sets no connect timeout, unless the DSN it is "
                           f"given carries `connect_timeout`: {_ADVICE}", severity="warning")
            else:
                ctx.report(node, f"`{dotted_text(node.func)}()` sets no connect timeout: {_ADVICE}")
        elif target in K.SQLALCHEMY_ENGINES:
            url_arg = node.args[0] if node.args else keyword(node, "url")
            url = string_value(url_arg, ctx)
            if url is not None and (not _libpq_url(url) or "connect_timeout" in url):
                return
            args = keyword(node, "connect_args")
            if args is not None and (dict_keys(args) is None or bool({"connect_timeout", "timeout"}
                                                                     & set(dict_keys(args) or ()))):
                return
            if url is not None:
                ctx.report(node, f"`{dotted_text(node.func)}()` on a libpq driver sets no connect timeout "
                           f"(add `connect_args={{\"connect_timeout\": 5}}`): {_ADVICE}")
            elif url_arg is not None and target in K.SYNC_ENGINES:  # async: most likely asyncpg (60 s default)
                ctx.report(node, f"`{dotted_text(node.func)}()` sets no connect timeout, unless its URL (not "
                           f"spelled out here) carries `connect_timeout` or names a driver other than "
                           f"libpq's (add `connect_args={{\"connect_timeout\": 5}}`): {_ADVICE}",
                           severity="warning")


    def _flask(self, node: ast.Call, ctx: FileContext) -> None:
        """``SQLAlchemy(engine_options={...})``: the engine's options are spelled out, the URL is not."""
        options = keyword(node, "engine_options")
        keys = dict_keys(options)
        if keys is None:
            return  # no options here (they live in the app config) or not literal: nothing to say
        if "connect_args" in keys:
            assert isinstance(options, (ast.Dict, ast.Call))
            args = _dict_value(options, "connect_args")
            inner = dict_keys(args)
            if inner is None or "connect_timeout" in inner:
                return
        ctx.report(node, f"`{dotted_text(node.func)}()` builds its engine with `engine_options` that set no "
                   f"connect timeout, unless the database URI or the app's SQLALCHEMY_ENGINE_OPTIONS carries "
                   f"`connect_timeout` (add `\"connect_args\": {{\"connect_timeout\": 5}}`): {_ADVICE}",
                   severity="warning")


def _flask_sqlalchemy(target: str | None, ctx: FileContext) -> bool:
    """Flask-SQLAlchemy's extension, or a class of this module derived from it."""
    if target is None:
        return False
    if target in K.FLASK_SQLALCHEMY:
        return True
    module, _, name = target.rpartition(".")
    bases = ctx.summary.classes.get(name, ()) if module == ctx.module else ()
    return any(base in K.FLASK_SQLALCHEMY for base in bases)


def _dict_value(expr: ast.Dict | ast.Call, key: str) -> ast.expr | None:
    if isinstance(expr, ast.Dict):
        return next((v for k, v in zip(expr.keys, expr.values, strict=True)
                     if isinstance(k, ast.Constant) and k.value == key), None)
    return keyword(expr, key)


def _libpq_url(url: str) -> bool:
    scheme = url.partition("://")[0].lower()
    return scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg",
                      "postgresql+psycopg2cffi", "postgresql+psycopg_async")
