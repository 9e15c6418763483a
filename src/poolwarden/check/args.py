"""Reading the arguments of a call: keywords, ``**splats`` and the URL/DSN it connects to."""

from __future__ import annotations

import ast

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.scope import dotted_text


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value passed as ``name=...``, or None."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def has_splat(call: ast.Call) -> bool:
    """Whether ``**kwargs`` or ``*args`` hides arguments we cannot see."""
    return any(kw.arg is None for kw in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)


def string_value(expr: ast.expr | None, ctx: FileContext, depth: int = 0) -> str | None:
    """The literal text of a URL/DSN argument when it can be read from the code.

    Follows module-level constants, ``os.environ.get(name, default)`` / ``os.getenv`` defaults,
    and the literal head of f-strings and ``+`` concatenations; None when unknown.
    """
    if expr is None or depth > 4:
        return None
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}" for v in expr.values
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left = string_value(expr.left, ctx, depth + 1)
        right = string_value(expr.right, ctx, depth + 1)
        return (left or "{}") + (right or "{}") if left or right else None
    if isinstance(expr, ast.Name):
        return ctx.constants.get(expr.id)
    if isinstance(expr, ast.Call):
        name = ctx.qualname(expr.func) or ""
        if name in ("os.environ.get", "os.getenv") and len(expr.args) >= 2:
            return string_value(expr.args[1], ctx, depth + 1)
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr == "replace" and len(expr.args) >= 2:
            old = string_value(expr.args[0], ctx, depth + 1)
            new = string_value(expr.args[1], ctx, depth + 1)
            if old is not None and new is not None and old.endswith("://"):
                return new + "{}"  # url.replace("postgresql://", "postgresql+psycopg://")
    return None


def dict_keys(expr: ast.expr | None) -> set[str] | None:
    """Literal string keys of a dict display or ``dict(...)`` call; None when not literal."""
    if isinstance(expr, ast.Dict):
        if any(k is None for k in expr.keys):
            return None
        return {k.value for k in expr.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict":
        if expr.args or any(kw.arg is None for kw in expr.keywords):
            return None
        return {kw.arg for kw in expr.keywords if kw.arg is not None}
    return None


def keeps_no_postgres_pool(call: ast.Call, ctx: FileContext) -> bool:
    """An engine call that pools no PostgreSQL connection: ``poolclass=NullPool`` (or another of
    :data:`knowledge.UNPOOLED`), a ``pool=``/``creator=`` it is handed, or a literal non-PostgreSQL URL
    (``sqlite://``: a test fixture's in-memory database)."""
    poolclass = keyword(call, "poolclass")
    if poolclass is not None and dotted_text(poolclass).rpartition(".")[2] in K.UNPOOLED:
        return True
    if keyword(call, "pool") is not None or (keyword(call, "creator") is not None and poolclass is not None):
        return True
    url = string_value(call.args[0] if call.args else keyword(call, "url"), ctx)
    return url is not None and not url.startswith(("postgres", "{}"))
