"""Numbers read from code or from a command line, followed as far as literals go.

A setting is often not written as a literal but read from the environment with a literal
default: ``os.environ.get("X", "4")``, ``os.getenv("X", 4)``, ``int(...)`` around either,
``env.int("X", default=4)`` / ``env("X", cast=int, default=4)`` (django-environ),
``config("X", cast=int, default=4)`` (python-decouple), ``os.environ.get("X") or 4`` (the first
operand that is set, the environment taken as unset), a module-level name bound once to any of
these, simple arithmetic over them, and ``os.cpu_count()`` / ``multiprocessing.cpu_count()``
when the CPU count is known (``--cpus``). On a command line: ``4``, ``$X`` / ``${X}`` (not
literal) and ``${X:-4}``. :func:`follow` takes the default as the value and remembers which
environment variable would change it; anything else is not literal, and :class:`Number` says so.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from poolwarden.check.scope import dotted_text
from poolwarden.dsn import mask_text

#: calls that read one environment variable: ``name(VAR, default)``
_GETENV = frozenset({"os.environ.get", "environ.get", "os.getenv", "getenv", "os.environ.setdefault"})
#: ``env.int(VAR, default=…)`` and its siblings (django-environ), ``config(VAR, default=…)`` (decouple)
_TYPED_ENV = frozenset({"int", "float", "bool", "str", "get_value"})
_ENV_CALLS = frozenset({"env", "config", "Env", "environ.Env", "decouple.config", "env.get_value"})
_CONVERT: dict[str, Callable[[Any], object]] = {"int": int, "float": float}
_CPU_COUNT = frozenset({"os.cpu_count", "multiprocessing.cpu_count", "cpu_count", "psutil.cpu_count"})
_BINOPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
}
_SHELL_VAR = re.compile(r"^\$(?:\{(?P<braced>[A-Za-z_]\w*)(?::?-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))$")
_MISSING = object()


@dataclass(frozen=True)
class Number:
    """A count read from code: its value (None when not literal), where, and what would change it."""

    value: int | None
    where: str  # path:line
    env: str | None = None  # the environment variable whose default this is, or that holds it
    text: str = ""  # the source text, for a value that is not literal
    cpus: bool = False  # computed from --cpus

    def describe(self) -> str:
        """``4 (path:3; env WORKERS changes it)`` or ``not literal: `…` (path:3)``."""
        extra = f"; env {self.env} changes it" if self.env else ""
        extra += "; from --cpus" if self.cpus else ""
        if self.value is None:
            return f"not literal: `{self.text}` ({self.where}{extra})"
        return f"{self.value} ({self.where}{extra})"


def module_names(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level names bound exactly once by a plain assignment (in any branch of an ``if``/``try``)."""
    seen: dict[str, list[ast.expr]] = {}

    def visit(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        seen.setdefault(target.id, []).append(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                seen.setdefault(stmt.target.id, []).append(stmt.value)
            elif isinstance(stmt, ast.If):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                visit(stmt.body)

    visit(tree.body)
    return {name: values[0] for name, values in seen.items() if len(values) == 1}


@dataclass(frozen=True)
class _Read:
    value: object
    env: str | None
    line: int
    cpus: bool = False


def _read(node: ast.expr, names: Mapping[str, ast.expr], cpus: int | None, depth: int = 0) -> _Read:
    line = getattr(node, "lineno", 0)
    if depth > 8:
        return _Read(_MISSING, None, line)
    if isinstance(node, ast.Constant):
        return _Read(node.value, None, line)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _read(node.operand, names, cpus, depth + 1)
        number = as_int(inner.value)
        if number is None:
            return _Read(_MISSING, inner.env, line, inner.cpus)
        return _Read(-number if isinstance(node.op, ast.USub) else number, inner.env, line, inner.cpus)
    if isinstance(node, ast.Name) and node.id in names:
        return _read(names[node.id], names, cpus, depth + 1)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _read(node.left, names, cpus, depth + 1), _read(node.right, names, cpus, depth + 1)
        a, b = as_int(left.value), as_int(right.value)
        if a is None or b is None or (isinstance(node.op, ast.FloorDiv) and b == 0):
            return _Read(_MISSING, left.env or right.env, line, left.cpus or right.cpus)
        return _Read(_BINOPS[type(node.op)](a, b), left.env or right.env, line, left.cpus or right.cpus)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):  # os.environ.get("X") or 40
        env, operand_read = None, _Read(_MISSING, None, line)
        for operand in node.values:
            operand_read = _read(operand, names, cpus, depth + 1)
            env = env or operand_read.env
            if operand_read.value is _MISSING and operand_read.env is None:
                return _Read(_MISSING, env, line, operand_read.cpus)
            if operand_read.value is not _MISSING and operand_read.value:
                return _Read(operand_read.value, env, operand_read.line, operand_read.cpus)
        return _Read(operand_read.value, env, operand_read.line, operand_read.cpus)  # every operand falsy: the last one
    if not isinstance(node, ast.Call):
        return _Read(_MISSING, None, line)
    callee = dotted_text(node.func)
    keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
    if callee in _CPU_COUNT and not node.args:
        return _Read(cpus if cpus is not None else _MISSING, None, line, cpus is not None)
    if callee in _CONVERT and len(node.args) == 1 and not keywords:
        inner = _read(node.args[0], names, cpus, depth + 1)
        return _Read(_convert(inner.value, callee), inner.env, inner.line, inner.cpus)
    last = callee.rpartition(".")[2]
    env_call = callee in _GETENV or callee in _ENV_CALLS or (
        last in _TYPED_ENV and isinstance(node.func, ast.Attribute) and callee.count(".") == 1)
    if not env_call and len(node.args) == 1 and isinstance(node.args[0], ast.Call):
        inner = _read(node.args[0], names, cpus, depth + 1)  # int_or_none(os.environ.get("X")): a helper
        return _Read(_MISSING, inner.env, line, inner.cpus)  # not literal, but the env var is named
    if not env_call or not node.args or not isinstance(node.args[0], ast.Constant) \
            or not isinstance(node.args[0].value, str):
        return _Read(_MISSING, None, line)
    var = node.args[0].value
    default = keywords.get("default", node.args[1] if len(node.args) > 1 else None)
    if default is None:
        return _Read(_MISSING, var, line)
    got = _read(default, names, cpus, depth + 1)
    cast = keywords.get("cast")
    kind = last if last in _CONVERT else (dotted_text(cast) if cast is not None else "")
    value = _convert(got.value, kind) if kind in _CONVERT else got.value
    return _Read(value, var, got.line, got.cpus)


def _convert(value: object, kind: str) -> object:
    if value is _MISSING or value is None or isinstance(value, bool):
        return value
    try:
        return _CONVERT[kind](value) if kind in _CONVERT else value
    except (TypeError, ValueError, OverflowError):
        return _MISSING


def as_int(value: object) -> int | None:
    """An int, or a string that spells one; None for anything else (a bool is not a count)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def follow(node: ast.expr, names: Mapping[str, ast.expr], path: str, *, cpus: int | None = None) -> Number:
    """The integer ``node`` holds as far as literals go (see the module's docstring)."""
    got = _read(node, names, cpus)
    value = as_int(got.value) if got.value is not _MISSING else None
    return Number(value, f"{path}:{got.line or getattr(node, 'lineno', 0)}", got.env, shown(node),
                  got.cpus)


def literal(node: ast.expr, names: Mapping[str, ast.expr], *, cpus: int | None = None) -> tuple[object, str | None]:
    """Any literal ``node`` holds as far as literals go (``None`` is a value: use the sentinel test),
    and the environment variable behind it; :data:`NOT_LITERAL` when it is not literal."""
    got = _read(node, names, cpus)
    return (NOT_LITERAL if got.value is _MISSING else got.value), got.env


NOT_LITERAL = _MISSING


def shell_number(token: str, where: str) -> Number:
    """A count written on a command line: ``4``, ``$X`` / ``${X}`` (not literal), ``${X:-4}``."""
    token = token.strip()
    match = _SHELL_VAR.match(token)
    if match is None:
        return Number(as_int(token), where, None, _short(mask_text(token)))
    var = match.group("braced") or match.group("bare")
    default = match.group("default")
    return Number(as_int(default) if default is not None else None, where, var, _short(mask_text(token)))


def shown(node: ast.expr, limit: int = 80) -> str:
    """The source text of ``node`` as notes quote it: on one line, cut to ``limit``, passwords masked."""
    return _short(mask_text(ast.unparse(node)), limit)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
