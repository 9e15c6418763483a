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
from collections.abc import Mapping
from dataclasses import dataclass, field

from poolwarden.check.context import FileContext

_MAX_DEPTH = 6
_BUILTINS = frozenset(dir(builtins))
_CONTAINER_METHODS = frozenset(n for t in (dict, list, set, str, bytes, tuple) for n in dir(t) if not n.startswith("_"))


class Opaque(enum.IntEnum):
    """How much of a dict the code does not show (the larger, the less is known)."""

    NONE = 0  # every contribution is visible
    PROJECT = 1  # some part comes from project code: a parameter, a project helper, an attribute
    EXTERNAL = 2  # some part comes from outside the code (a library call, a file, the environment)


@dataclass(frozen=True, slots=True)
class Value:
    """One value a key may have, and the function (or module) whose names it reads."""

    expr: ast.expr
    where: ast.AST | None
    bound: Mapping[str, Value] | None = None  # in a helper: what its caller passed its parameters


@dataclass(slots=True)
class Lookup:
    """The values ``key`` may have (``values``) and what could not be read (``opaque``)."""

    values: list[Value] = field(default_factory=list)
    opaque: Opaque = Opaque.NONE

    def add(self, other: Lookup) -> None:
        self.values.extend(other.values)
        self.opaque = max(self.opaque, other.opaque)

    def blind(self, how: Opaque) -> None:
        self.opaque = max(self.opaque, how)


Helpers = Mapping[str, "ast.FunctionDef | ast.AsyncFunctionDef"]
_Seen = frozenset[tuple[int, str]]


def lookup(expr: ast.expr | None, key: str, ctx: FileContext, where: ast.AST | None,
           helpers: Helpers | None = None, bound: Mapping[str, Value] | None = None) -> Lookup:
    """The values ``key`` may take in the dict ``expr`` evaluates to, read inside ``where``
    (the enclosing function node, or the module): literal keys, ``d[key] = v``, ``d.update(...)``,
    ``d.setdefault(key, v)``, ``{**other}``, ``dict(other, key=v)``, ``x or {}``. ``helpers`` are the
    module's own functions: a dict one of them returns (also as an item of a returned tuple), or
    fills when handed ``d`` (``add_ssl(d, "sslmode")``), is read there."""
    return _Reader(ctx, helpers or {}).lookup(expr, key, where, bound or {}, 0, frozenset())


@dataclass(frozen=True, slots=True)
class _Whole:
    value: ast.expr  # name = value, name.update(value), name |= value
    where: ast.AST | None
    bound: Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class _Item:
    key: str | None  # None: a key the code computes
    value: ast.expr
    where: ast.AST | None
    bound: Mapping[str, Value]


_Write = _Whole | _Item | Opaque
_Bindings = Mapping[str, Value]  # a helper's parameter -> what its caller passed (read in the caller)


class _Reader:
    def __init__(self, ctx: FileContext, helpers: Helpers) -> None:
        self.ctx = ctx
        self.helpers = helpers

    def lookup(self, expr: ast.expr | None, key: str, where: ast.AST | None, bound: _Bindings, depth: int,
               seen: _Seen) -> Lookup:
        found = Lookup()
        if expr is None or depth > _MAX_DEPTH:
            found.blind(Opaque.PROJECT if expr is not None else Opaque.NONE)
            return found
        if isinstance(expr, ast.Constant) and expr.value is None:
            return found
        if isinstance(expr, ast.Dict):
            for k, v in zip(expr.keys, expr.values, strict=True):
                if k is None:
                    found.add(self.lookup(v, key, where, bound, depth + 1, seen))
                elif isinstance(k, ast.Constant) and k.value == key:
                    found.values.append(Value(v, where, bound))
                elif not isinstance(k, ast.Constant):
                    found.blind(Opaque.PROJECT)
            return found
        if isinstance(expr, (ast.BoolOp, ast.IfExp)):
            parts = expr.values if isinstance(expr, ast.BoolOp) else [expr.body, expr.orelse]
            for part in parts:
                found.add(self.lookup(part, key, where, bound, depth + 1, seen))
            return found
        if isinstance(expr, ast.Call):
            return self._call(expr, key, where, bound, depth, seen)
        if isinstance(expr, ast.Name):
            return self._name(expr.id, key, where, bound, depth, seen)
        found.blind(_origin(expr, self.ctx))
        return found

    def _call(self, expr: ast.Call, key: str, where: ast.AST | None, bound: _Bindings, depth: int,
              seen: _Seen) -> Lookup:
        found = Lookup()
        func = expr.func
        if isinstance(func, ast.Name) and func.id == "dict" and self.ctx.qualname(func) is None:
            for arg in expr.args:
                found.add(self.lookup(arg, key, where, bound, depth + 1, seen))
            for kw in expr.keywords:
                if kw.arg is None:
                    found.add(self.lookup(kw.value, key, where, bound, depth + 1, seen))
                elif kw.arg == key:
                    found.values.append(Value(kw.value, where, bound))
            return found
        if isinstance(func, ast.Attribute) and func.attr == "copy" and not expr.args:
            return self.lookup(func.value, key, where, bound, depth + 1, seen)
        if self.ctx.qualname(func) in ("copy.copy", "copy.deepcopy") and expr.args:
            return self.lookup(expr.args[0], key, where, bound, depth + 1, seen)
        helper = self._helper(expr)
        if helper is not None:  # a dict the module's own function returns
            binding = _bind(helper, expr, where)
            for ret in _returns(helper):
                found.add(self.lookup(ret, key, helper, binding, depth + 1, seen))
            return found
        found.blind(_origin(expr, self.ctx))
        return found

    def _name(self, name: str, key: str, where: ast.AST | None, bound: _Bindings, depth: int,
              seen: _Seen) -> Lookup:
        found = Lookup()
        mark = (id(where), name)
        if mark in seen:
            return found
        seen = seen | {mark}
        param = isinstance(where, (ast.FunctionDef, ast.AsyncFunctionDef)) and name in _params(where)
        if param:
            passed = bound.get(name)
            if passed is None:
                found.blind(Opaque.PROJECT)  # the caller's data
            else:  # a helper's parameter: what its caller (in this module) passed
                found.add(self.lookup(passed.expr, key, passed.where, {}, depth + 1, seen))
            # ... and what this function itself writes into it
        writes = self._writes(where, name, bound, depth) if where is not None else []
        if not writes and not param:
            found.blind(_origin(ast.Name(id=name), self.ctx))
            return found
        for write in writes:
            if isinstance(write, _Whole):
                found.add(self.lookup(write.value, key, write.where, write.bound, depth + 1, seen))
            elif isinstance(write, _Item):
                if write.key == key:
                    found.values.append(Value(write.value, write.where, write.bound))
                elif write.key is None:
                    found.blind(Opaque.PROJECT)
            else:
                found.blind(write)
        return found

    def _helper(self, call: ast.Call) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        func = call.func
        if isinstance(func, ast.Name) and self.ctx.qualname(func) == _own(self.ctx, func.id):
            return self.helpers.get(func.id)
        return None

    def _writes(self, where: ast.AST, name: str, bound: _Bindings, depth: int) -> list[_Write]:
        """Every statement or call in ``where`` that may change what the dict ``name`` holds."""
        out: list[_Write] = []
        nodes = where.body if isinstance(where, ast.Module) else [where]
        for top in nodes:
            for node in ast.walk(top):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    self._assignment(node, name, where, bound, out)
                elif isinstance(node, ast.AugAssign) and _is(node.target, name):
                    out.append(_Whole(node.value, where, bound))
                elif isinstance(node, ast.Call):
                    self._handed(node, name, where, bound, depth, out)
                elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)) and any(
                        _is(t, name) for t in ast.walk(node.target if isinstance(node, (ast.For, ast.AsyncFor))
                                                       else ast.Tuple(elts=[i.optional_vars for i in node.items
                                                                            if i.optional_vars is not None]))):
                    out.append(Opaque.PROJECT)
        return out

    def _assignment(self, node: ast.Assign | ast.AnnAssign, name: str, where: ast.AST, bound: _Bindings,
                    out: list[_Write]) -> None:
        value = node.value
        assert value is not None
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if _aliases(value, name) and any(isinstance(t, ast.Name) and t.id != name for t in targets):
            out.append(Opaque.PROJECT)  # `alias = d` / `inner = d["k"]`: changed through the alias
        for target in targets:
            if isinstance(target, ast.Name) and target.id == name:
                out.append(_Whole(value, where, bound))
            elif isinstance(target, ast.Subscript):
                path = _subscript_path(target, name, bound)
                if path:  # d[k] = v, or d[k1][k2] = v: key k1 gets a dict holding {k2: v}
                    item: ast.expr = value
                    for inner in reversed(path[1:]):
                        item = ast.Dict(keys=[ast.Constant(inner)], values=[item]) if inner is not None \
                            else ast.Name(id="<computed>")
                    out.append(_Item(path[0], item, where, bound))
            elif isinstance(target, (ast.Tuple, ast.List)) and any(_is(e, name) for e in ast.walk(target)):
                out.extend(self._unpacked(target, name, value, where))

    def _unpacked(self, target: ast.Tuple | ast.List, name: str, value: ast.expr, where: ast.AST) -> list[_Write]:
        """``a, d = helper(...)``: the item of each tuple the module's own helper returns."""
        index = next((i for i, e in enumerate(target.elts) if _is(e, name)), None)
        helper = self._helper(value) if isinstance(value, ast.Call) else None
        if index is None or helper is None:
            return [Opaque.PROJECT]  # unpacked from elsewhere: the helper's own data
        out: list[_Write] = []
        assert isinstance(value, ast.Call)
        binding = _bind(helper, value, where)
        for ret in _returns(helper):
            if isinstance(ret, ast.Tuple) and len(ret.elts) == len(target.elts):
                out.append(_Whole(ret.elts[index], helper, binding))
            else:
                out.append(Opaque.PROJECT)
        return out or [Opaque.PROJECT]

    def _handed(self, node: ast.Call, name: str, where: ast.AST, bound: _Bindings, depth: int,
                out: list[_Write]) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and _is(func.value, name):
            if func.attr == "update":
                out.extend(_Whole(a, where, bound) for a in node.args)
                out.extend(_Whole(k.value, where, bound) if k.arg is None else _Item(k.arg, k.value, where, bound)
                           for k in node.keywords)
            elif func.attr == "setdefault" and len(node.args) == 2:
                out.append(_Item(_constant(node.args[0], bound), node.args[1], where, bound))
            return
        if not (any(_is(a, name) for a in node.args) or any(_is(k.value, name) for k in node.keywords)):
            return
        helper = self._helper(node)
        if helper is not None and depth < _MAX_DEPTH:  # add_ssl(d, "sslmode"): read what the helper writes
            binding = _bind(helper, node, where)
            for param in [p for p, a in binding.items() if _is(a.expr, name)]:
                out.extend(self._writes(helper, param, binding, depth + 1))
            return
        if isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS:
            return  # other.update(d), ", ".join(d): built-in containers' methods never change their arguments
        if _origin(node, self.ctx) is Opaque.PROJECT:
            out.append(Opaque.PROJECT)  # handed to a project helper that may add keys


def _returns(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The values ``func`` returns (a bare ``return`` gives None)."""
    return [r.value if r.value is not None else ast.Constant(None) for r in ast.walk(func)
            if isinstance(r, ast.Return)]


def _own(ctx: FileContext, name: str) -> str:
    return f"{ctx.module}.{name}" if ctx.module else name


def _bind(helper: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, where: ast.AST | None) -> _Bindings:
    """The helper's parameters -> the arguments ``call`` passes them (positional and keyword)."""
    params = [a.arg for a in (*helper.args.posonlyargs, *helper.args.args)]
    binding: dict[str, Value] = {}
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if i < len(params):
            binding[params[i]] = Value(arg, where)
    binding.update({k.arg: Value(k.value, where) for k in call.keywords if k.arg is not None})
    return binding


def _constant(expr: ast.expr, bound: _Bindings) -> str | None:
    """A string key: a literal, or a helper's parameter its caller passed a literal for."""
    if isinstance(expr, ast.Name) and expr.id in bound:
        expr = bound[expr.id].expr
    return expr.value if isinstance(expr, ast.Constant) and isinstance(expr.value, str) else None


def _subscript_path(target: ast.Subscript, name: str, bound: _Bindings) -> list[str | None]:
    """``name["a"]["b"]`` -> ``["a", "b"]`` (None for a computed key); ``[]`` when not rooted at ``name``."""
    path: list[str | None] = []
    expr: ast.expr = target
    while isinstance(expr, ast.Subscript):
        path.append(_constant(expr.slice, bound))
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
