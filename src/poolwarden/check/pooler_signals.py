"""Code that says the project runs behind a transaction-mode pooler (PgBouncer): a per-module fact.

:func:`pooler_signal` returns the first of these a module's code shows, cited with its place
(``create_engine(pgbouncer=True) at app/db.py:12``), or "":

- poolwarden's own engines in PgBouncer mode: ``poolwarden.runtime.engine.create_engine(...,
  pgbouncer=True)`` (and ``create_async_engine``, ``PoolSettings``);
- asyncpg's statement cache turned off: ``statement_cache_size=0`` (a keyword, or a ``connect_args`` key);
- psycopg 3's automatic preparation turned off: ``prepare_threshold=None`` (keyword or key);
- Django's ``DISABLE_SERVER_SIDE_CURSORS = True`` (a module-level setting or a ``DATABASES`` entry key).

Each exists only to run behind a transaction pooler (the drivers' and Django's documentation say so).
A DSN on port 6432 (PgBouncer's default port) is not a signal: it says nothing of the pool mode, and
session pooling is PgBouncer's default. Test modules are left out by the caller.
"""

from __future__ import annotations

import ast

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext


def pooler_signal(source: bytes, tree: ast.Module, ctx: FileContext) -> str:
    """Why ``tree`` says its project runs behind a transaction pooler (see the module doc), or ""."""
    if not any(word in source for word in K.POOLER_TOKEN_WORDS):
        return ""  # the common case: substring searches, no second walk
    for node in ast.walk(tree):
        found = _signal(node, ctx)
        if found:
            return f"{found} at {ctx.path}:{getattr(node, 'lineno', 1)}"
    return ""


def _signal(node: ast.AST, ctx: FileContext) -> str:
    if isinstance(node, ast.Call):
        for kw in node.keywords:
            if kw.arg == K.PGBOUNCER_KEYWORD and _is(kw.value, True) \
                    and isinstance(node.func, (ast.Name, ast.Attribute)) \
                    and ctx.qualname(node.func) in K.POOLWARDEN_PGBOUNCER_CALLS:
                return f"`{ast.unparse(node.func)}(pgbouncer=True)`"
            found = _option(kw.arg, kw.value)
            if found:
                return found
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                found = _option(key.value, value)
                if found:
                    return found
    elif isinstance(node, ast.Assign) and _is(node.value, True) and any(
            isinstance(t, ast.Name) and t.id == K.DJANGO_NO_SERVER_CURSORS for t in node.targets):
        return f"`{K.DJANGO_NO_SERVER_CURSORS} = True`"
    return ""


def _option(name: str | None, value: ast.expr) -> str:
    if name == K.ASYNCPG_CACHE_OPTION and _is(value, 0):
        return f"`{name}=0` (asyncpg's statement cache off)"
    if name == K.PSYCOPG_PREPARE_OPTION and _is(value, None):
        return f"`{name}=None` (psycopg's prepared statements off)"
    if name == K.DJANGO_NO_SERVER_CURSORS and _is(value, True):
        return f"`{name}: True`"
    return ""


def _is(expr: ast.expr, literal: object) -> bool:
    return isinstance(expr, ast.Constant) and type(expr.value) is type(literal) and expr.value == literal
