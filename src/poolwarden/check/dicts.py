"""What a keyword-argument dict holds: the values a key may get, followed through one function.

Real code rarely spells a connect's options at the call: it builds ``kwargs = {...}``, sets
``kwargs["connect_args"] = ...``, calls ``kwargs.update(extra)`` and splats ``**kwargs``.
:func:`lookup` answers "which values may ``key`` have in this dict expression?" by following
local names to every place the enclosing function (or the module) writes them. It never guesses:
a contribution it cannot read makes the answer *opaque*, and it says whether the unreadable part
is project data (a parameter, a project helper's result, an attribute of a project object) or
comes from outside the code (a library call, a file, the environment).

It runs only for the few calls a rule asks about, never for every node of the walk.
"""

from __future__ import annotations

import ast
import builtins
import enum
from dataclasses import dataclass, field

from poolwarden.check.context import FileContext

_MAX_DEPTH = 6
_BUILTINS = frozenset(dir(builtins))


class Opaque(enum.IntEnum):
    """How much of a dict the code does not show (the larger, the less is known)."""

    NONE = 0  # every contribution is visible
    PROJECT = 1  # some part comes from project code: a parameter, a project helper, an attribute
    EXTERNAL = 2  # some part comes from outside the code (a library call, a file, the environment)


@dataclass(slots=True)
class Lookup:
    """The values ``key`` may have (``values``) and what could not be read (``opaque``)."""

    values: list[ast.expr] = field(default_factory=list)
    opaque: Opaque = Opaque.NONE

    def add(self, other: Lookup) -> None:
        self.values.extend(other.values)
        self.opaque = max(self.opaque, other.opaque)

    def blind(self, how: Opaque) -> None:
        self.opaque = max(self.opaque, how)


def lookup(expr: ast.expr | None, key: str, ctx: FileContext, where: ast.AST | None, depth: int = 0,
           seen: frozenset[str] = frozenset()) -> Lookup:
    """The values ``key`` may take in the dict ``expr`` evaluates to, read inside ``where``
    (the enclosing function node, or the module): literal keys, ``d[key] = v``, ``d.update(...)``,
    ``d.setdefault(key, v)``, ``{**other}``, ``dict(other, key=v)``, ``x or {}``."""
    found = Lookup()
    if expr is None or depth > _MAX_DEPTH:
        found.blind(Opaque.PROJECT if expr is not None else Opaque.NONE)
        return found
    if isinstance(expr, ast.Constant) and expr.value is None:
        return found
    if isinstance(expr, ast.Dict):
        for k, v in zip(expr.keys, expr.values, strict=True):
            if k is None:
                found.add(lookup(v, key, ctx, where, depth + 1, seen))
            elif isinstance(k, ast.Constant) and k.value == key:
                found.values.append(v)
            elif not isinstance(k, ast.Constant):
                found.blind(Opaque.PROJECT)
        return found
    if isinstance(expr, (ast.BoolOp, ast.IfExp)):
        parts = expr.values if isinstance(expr, ast.BoolOp) else [expr.body, expr.orelse]
        for part in parts:
            found.add(lookup(part, key, ctx, where, depth + 1, seen))
        return found
    if isinstance(expr, ast.Call):
        return _call(expr, key, ctx, where, depth, seen)
    if isinstance(expr, ast.Name):
        return _name(expr.id, key, ctx, where, depth, seen)
    found.blind(_origin(expr, ctx))
    return found


def _call(expr: ast.Call, key: str, ctx: FileContext, where: ast.AST | None, depth: int,
          seen: frozenset[str]) -> Lookup:
    found = Lookup()
    func = expr.func
    if isinstance(func, ast.Name) and func.id == "dict" and ctx.qualname(func) is None:
        for arg in expr.args:
            found.add(lookup(arg, key, ctx, where, depth + 1, seen))
        for kw in expr.keywords:
            if kw.arg is None:
                found.add(lookup(kw.value, key, ctx, where, depth + 1, seen))
            elif kw.arg == key:
                found.values.append(kw.value)
        return found
    if isinstance(func, ast.Attribute) and func.attr == "copy" and not expr.args:
        return lookup(func.value, key, ctx, where, depth + 1, seen)
    if ctx.qualname(func) in ("copy.copy", "copy.deepcopy") and expr.args:
        return lookup(expr.args[0], key, ctx, where, depth + 1, seen)
    found.blind(_origin(expr, ctx))
    return found


def _name(name: str, key: str, ctx: FileContext, where: ast.AST | None, depth: int,
          seen: frozenset[str]) -> Lookup:
    found = Lookup()
    if name in seen:
        return found
    seen = seen | {name}
    if isinstance(where, (ast.FunctionDef, ast.AsyncFunctionDef)) and name in _params(where):
        found.blind(Opaque.PROJECT)  # the caller's data
        return found
    writes = _writes(where, name, ctx) if where is not None else []
    if not writes:
        found.blind(_origin(ast.Name(id=name), ctx))
        return found
    for write in writes:
        if isinstance(write, _Whole):
            found.add(lookup(write.value, key, ctx, where, depth + 1, seen))
        elif isinstance(write, _Item):
            if write.key == key:
                found.values.append(write.value)
            elif write.key is None:
                found.blind(Opaque.PROJECT)
        else:
            found.blind(write)
    return found


@dataclass(frozen=True, slots=True)
class _Whole:
    value: ast.expr  # name = value, name.update(value), name |= value


@dataclass(frozen=True, slots=True)
class _Item:
    key: str | None  # None: a key the code computes
    value: ast.expr


def _writes(where: ast.AST, name: str, ctx: FileContext) -> list[_Whole | _Item | Opaque]:
    """Every statement or call in ``where`` that may change what the dict ``name`` holds."""
    out: list[_Whole | _Item | Opaque] = []
    nodes = where.body if isinstance(where, ast.Module) else [where]
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _aliases(node.value, name):
                    out.append(Opaque.PROJECT)  # `alias = d` / `inner = d["k"]`: changed through the alias
                for target in targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        out.append(_Whole(node.value))
                    elif isinstance(target, ast.Subscript):
                        path = _subscript_path(target, name)
                        if path:  # d[k] = v, or d[k1][k2] = v: key k1 gets a dict holding {k2: v}
                            value: ast.expr = node.value
                            for inner in reversed(path[1:]):
                                value = ast.Dict(keys=[ast.Constant(inner)], values=[value]) if inner is not None \
                                    else ast.Name(id="<computed>")
                            out.append(_Item(path[0], value))
                    elif isinstance(target, (ast.Tuple, ast.List)) and any(
                            _is(e, name) for e in ast.walk(target)):
                        out.append(Opaque.PROJECT)  # unpacked from a tuple: the helper's own data
            elif isinstance(node, ast.AugAssign) and _is(node.target, name):
                out.append(_Whole(node.value))
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and _is(func.value, name):
                    if func.attr == "update":
                        out.extend(_Whole(a) for a in node.args)
                        out.extend(_Whole(k.value) if k.arg is None else _Item(k.arg, k.value) for k in node.keywords)
                    elif func.attr == "setdefault" and len(node.args) == 2:
                        first = node.args[0]
                        out.append(_Item(first.value if isinstance(first, ast.Constant)
                                         and isinstance(first.value, str) else None, node.args[1]))
                elif (any(_is(a, name) for a in node.args) or any(_is(k.value, name) for k in node.keywords)) \
                        and _origin(node, ctx) is Opaque.PROJECT:
                    out.append(Opaque.PROJECT)  # handed to a project helper that may add keys
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)) and any(
                    _is(t, name) for t in ast.walk(node.target if isinstance(node, (ast.For, ast.AsyncFor))
                                                   else ast.Tuple(elts=[i.optional_vars for i in node.items
                                                                        if i.optional_vars is not None]))):
                out.append(Opaque.PROJECT)
    return out


def _subscript_path(target: ast.Subscript, name: str) -> list[str | None]:
    """``name["a"]["b"]`` -> ``["a", "b"]`` (None for a computed key); ``[]`` when not rooted at ``name``."""
    path: list[str | None] = []
    expr: ast.expr = target
    while isinstance(expr, ast.Subscript):
        sub = expr.slice
        path.append(sub.value if isinstance(sub, ast.Constant) and isinstance(sub.value, str) else None)
        expr = expr.value
    return path[::-1] if _is(expr, name) else []


def _aliases(value: ast.expr, name: str) -> bool:
    """Whether ``value`` is ``name`` itself or an item of it (a second name for what it holds)."""
    while isinstance(value, ast.Subscript):
        value = value.value
    return _is(value, name)


def _is(expr: ast.AST, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _params(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    args = func.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            names.add(extra.arg)
    return names


def _origin(expr: ast.expr, ctx: FileContext) -> Opaque:
    """Where an unreadable value comes from: project code, or outside it."""
    target = expr.func if isinstance(expr, ast.Call) else expr
    base = target
    while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
        base = base.func if isinstance(base, ast.Call) else base.value
    if isinstance(base, ast.Name) and base.id == ctx.function.self_name:
        return Opaque.PROJECT  # self.<attr>: the object's own data
    dotted = ctx.qualname(target) if isinstance(target, (ast.Name, ast.Attribute)) else None
    if dotted is None and isinstance(base, ast.Name):
        dotted = ctx.qualname(base)
    if dotted is None:
        if isinstance(base, ast.Name) and base.id in _BUILTINS:
            return Opaque.EXTERNAL  # dict(), len(), isinstance(): Python's own, never the project's
        return Opaque.PROJECT if isinstance(base, ast.Name) else Opaque.EXTERNAL
    return Opaque.PROJECT if ctx.is_project_ref(dotted) else Opaque.EXTERNAL
