"""Code that says the project runs behind a transaction-mode pooler (PgBouncer): a per-module fact.

:func:`pooler_signal` returns the first of these a module's code shows, cited with its place
(``create_engine(pgbouncer=True) at app/db.py:12``), or "":

- poolwarden's own engines in PgBouncer mode: ``poolwarden.runtime.engine.create_engine(...,
  pgbouncer=True)`` (and ``create_async_engine``, ``PoolSettings``);
- Django's ``DISABLE_SERVER_SIDE_CURSORS = True`` (a module-level setting, or a literal ``True`` under that
  key of a ``DATABASES`` entry): Django documents it for transaction pooling only.

Both configure a whole engine or database for a transaction pooler. Weaker hints are not taken, as
measured on the 14 labelled services and on poolwarden itself (BENCHMARKS.md): asyncpg's
``statement_cache_size=0`` and psycopg's ``prepare_threshold=None`` configure one connection and are also
set for PgBouncer's admin console (poolwarden's doctor), defensively ("cold async connects", onyx) or
only when a pooler is detected at run time (skyvern); a DSN on port 6432 (PgBouncer's default port) says
nothing of the pool mode, and session pooling is PgBouncer's default. Test modules are left out by the
caller.
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
    if name == K.DJANGO_NO_SERVER_CURSORS and _is(value, True):
        return f"`{name}: True`"
    return ""


def _is(expr: ast.expr, literal: object) -> bool:
    return isinstance(expr, ast.Constant) and type(expr.value) is type(literal) and expr.value == literal
