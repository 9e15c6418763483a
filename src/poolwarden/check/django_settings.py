"""Django's ``DATABASES`` as a settings module writes it: each entry as plain values, rule-neutral.

:func:`database_entries` reads the statements a settings module runs at import time (the module body
and its ``if`` / ``try`` / ``with`` blocks): ``DATABASES = {...}``, ``DATABASES["x"] = {...}`` or a URL
helper's entry (dj-database-url's ``config()`` / ``parse()``, django-environ's ``env.db()``), then the
writes into an entry (``DATABASES["x"]["CONN_MAX_AGE"] = 0``, ``DATABASES["x"]["OPTIONS"]["pool"] =
{...}``, ``DATABASES["x"].update({...})``). An assignment in each branch of an ``if`` gives each alias
several candidate entries; a later write goes into every candidate of its alias.

Values become what :mod:`poolwarden.check.django_verdicts` judges: literals as themselves (through
module-level names), an environment read with a literal default (``env.int("X", default=60)``,
``os.environ.get("X", "60")``, ``int(os.getenv("X", "60"))``, ``config("X", cast=int, default=60)``) as
:class:`FromEnv`, a URL helper's ``OPTIONS`` as :class:`FromUrl`, anything else as
:class:`NotLiteral`. Each entry keeps the node of each key it was read from, for anchoring.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.django_verdicts import Facts, FromEnv, FromUrl, NotLiteral, Problem, judge
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.rule import Rule
from poolwarden.check.scope import dotted_text

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

# The keys an entry whose dict the code does not spell out may hold anything for.
_JUDGED = (K.DJANGO_ENGINE, K.DJANGO_OPTIONS, K.CONN_MAX_AGE, K.CONN_HEALTH_CHECKS)
# Conversions that keep an environment default literal: ``int(os.getenv("X", "60"))``.
_CASTS: dict[str, Callable[[Any], object]] = {"int": int, "float": float, "bool": bool, "str": str}
_DEPTH = 6


@dataclass
class Entry:
    """One candidate value of ``DATABASES[alias]``.

    ``values``: key -> plain value (see module doc); ``anchors``: key path (``("OPTIONS", "pool")``) ->
    the node it was written at; ``written``: key paths set by a later write into the entry
    (``DATABASES["x"]["OPTIONS"] = ...``); ``node``: where the entry itself is written.
    """

    alias: str
    node: ast.AST
    partial: bool = False  # made by a write into an entry another module made (split settings)
    values: dict[str, object] = field(default_factory=dict)
    anchors: dict[tuple[str, ...], ast.AST] = field(default_factory=dict)
    written: set[tuple[str, ...]] = field(default_factory=set)

    def anchor(self, *keys: tuple[str, ...]) -> ast.AST:
        """The node of the first of ``keys`` written here, else the entry's own."""
        return next((self.anchors[k] for k in keys if k in self.anchors), self.node)


# The last module read: PW106, PW109 and PW110 each ask for the same module's entries in turn.
_last: tuple[ast.Module | None, list[Entry]] = (None, [])


def database_entries(tree: ast.Module, ctx: FileContext) -> list[Entry]:
    """Every candidate entry of the module's ``DATABASES``, in the order they are written (read once per
    module: the rules that ask share the answer)."""
    global _last
    if _last[0] is tree:
        return _last[1]
    entries = _read_entries(tree, ctx)
    _last = (tree, entries)
    return entries


def _read_entries(tree: ast.Module, ctx: FileContext) -> list[Entry]:
    statements = module_statements(tree.body)
    if not any(_databases_path(t) is not None for s in statements for t in _targets(s)):
        return []
    reader = _Reader(ctx)
    by_alias: dict[str, list[Entry]] = {}
    order: list[Entry] = []
    for stmt in statements:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    reader.names[target.id] = stmt.value
            if len(stmt.targets) != 1:
                continue
            path = _databases_path(stmt.targets[0])
            if path is None:
                continue
            if not path:
                whole = reader.follow(stmt.value)
                if isinstance(whole, ast.Dict):
                    for k, v in zip(whole.keys, whole.values, strict=True):
                        alias = reader.follow(k) if k is not None else None  # a module-level name for the alias
                        if isinstance(alias, ast.Constant) and isinstance(alias.value, str):
                            entry = reader.entry(alias.value, v)
                            by_alias.setdefault(alias.value, []).append(entry)
                            order.append(entry)
            elif len(path) == 1 and path[0] is not None:
                entry = reader.entry(path[0], stmt.value)
                by_alias.setdefault(path[0], []).append(entry)
                order.append(entry)
            else:
                _write(by_alias, order, path, stmt.value, reader)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "update":
            path = _databases_path(stmt.value.func.value)  # DATABASES["x"].update({...})
            if path:
                arg = stmt.value.args[0] if len(stmt.value.args) == 1 and not stmt.value.keywords else None
                _update(by_alias, order, path, arg, stmt.value, reader)
    return order


class _Reader:
    """Turns expressions into plain values, following module-level names."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.names: dict[str, ast.expr] = {}

    def follow(self, expr: ast.expr, depth: int = 0) -> ast.expr:
        while isinstance(expr, ast.Name) and expr.id in self.names and depth < _DEPTH:
            expr, depth = self.names[expr.id], depth + 1
        return expr

    def entry(self, alias: str, expr: ast.expr) -> Entry:
        target = self.follow(expr)
        entry = Entry(alias, expr)
        if isinstance(target, ast.Dict) and None not in target.keys:
            for k, v in zip(target.keys, target.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    entry.values[k.value] = self.value(v)
                    entry.anchors[(k.value,)] = k
                    inner = self.follow(v)
                    if k.value == K.DJANGO_OPTIONS and isinstance(inner, ast.Dict):
                        for k2 in inner.keys:
                            if isinstance(k2, ast.Constant) and isinstance(k2.value, str):
                                entry.anchors[(k.value, k2.value)] = k2
            return entry
        builder = self._url_builder(target)
        if builder is not None and isinstance(target, ast.Call):
            entry.values[K.DJANGO_OPTIONS] = FromUrl(f"{dotted_text(target.func)}()")
            entry.anchors[(K.DJANGO_ENGINE,)] = target
            for kw in target.keywords:
                key = builder.get(kw.arg or "")
                if key is not None:
                    entry.values[key] = self.value(kw.value)
                    entry.anchors[(key,)] = kw.value
            return entry
        text = _text(expr)
        entry.values = {key: NotLiteral(text) for key in _JUDGED}
        return entry

    def _url_builder(self, expr: ast.expr) -> dict[str, str] | None:
        if not isinstance(expr, ast.Call):
            return None
        name = self.ctx.qualname(expr.func)
        if name in K.DJANGO_URL_ENTRY_BUILDERS:
            return K.DJANGO_URL_ENTRY_BUILDERS[name]
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in K.ENVIRON_ENTRY_METHODS and self._environ(func.value):
            return K.DJANGO_URL_ENTRY_BUILDERS[f"environ.Env.{func.attr}"]
        return None

    def _environ(self, receiver: ast.expr) -> bool:
        """Whether ``receiver`` is django-environ's ``Env``: made by ``environ.Env(...)`` here, or named so."""
        made = self.follow(receiver)
        if isinstance(made, ast.Call) and (self.ctx.qualname(made.func) or "").startswith("environ.Env"):
            return True
        return isinstance(receiver, ast.Name) and receiver.id in K.ENVIRON_READER_NAMES

    def value(self, expr: ast.expr, depth: int = 0) -> object:
        """The plain value of ``expr`` (see module doc)."""
        if depth > _DEPTH:
            return NotLiteral(_text(expr))
        expr = self.follow(expr)
        if isinstance(expr, ast.Constant):
            return expr.value
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub) and isinstance(expr.operand, ast.Constant) \
                and isinstance(expr.operand.value, (int, float)):
            return -expr.operand.value
        if isinstance(expr, ast.Dict):
            if None in expr.keys:
                return NotLiteral(_text(expr))
            return {k.value: self.value(v, depth + 1) for k, v in zip(expr.keys, expr.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        if isinstance(expr, ast.Call):
            return self._call(expr, depth)
        return NotLiteral(_text(expr))

    def _call(self, call: ast.Call, depth: int) -> object:
        func = call.func
        name = self.ctx.qualname(func) or ""
        if isinstance(func, ast.Name) and func.id == "dict" and not call.args \
                and all(kw.arg is not None for kw in call.keywords):
            return {kw.arg: self.value(kw.value, depth + 1) for kw in call.keywords if kw.arg is not None}
        if isinstance(func, ast.Name) and func.id in _CASTS and len(call.args) == 1 and not call.keywords:
            inner = self.value(call.args[0], depth + 1)
            if not isinstance(inner, FromEnv):
                return NotLiteral(_text(call))
            try:  # the cast as Python runs it on the default: bool("False") is True
                return FromEnv(_CASTS[func.id](inner.value), inner.var)
            except (TypeError, ValueError, OverflowError):
                return NotLiteral(_text(call))
        if name in K.ENV_READERS:
            return self._env(call, K.ENV_READERS[name], depth)
        if isinstance(func, ast.Attribute) and func.attr in K.ENVIRON_TYPED_READERS and self._environ(func.value):
            return self._env(call, None, depth)
        if isinstance(func, ast.Name) and self._environ(func):
            return self._env(call, None, depth)  # env("X", default=60)
        return NotLiteral(_text(call))

    def _env(self, call: ast.Call, position: int | None, depth: int) -> object:
        var = call.args[0] if call.args else None
        default = next((kw.value for kw in call.keywords if kw.arg == "default"), None)
        if default is None and position is not None and len(call.args) > position:
            default = call.args[position]
        if not (isinstance(var, ast.Constant) and isinstance(var.value, str)) or default is None:
            return NotLiteral(_text(call))
        value = self.value(default, depth + 1)
        if isinstance(value, (NotLiteral, FromUrl, FromEnv, dict)):
            return NotLiteral(_text(call))
        return FromEnv(value, var.value)


def _write(by_alias: dict[str, list[Entry]], order: list[Entry], path: list[str | None], value: ast.expr,
           reader: _Reader) -> None:
    """``DATABASES[alias][key]... = value``: into every candidate of ``alias`` (of every alias for a computed one)."""
    alias, keys = path[0], path[1:]
    if None in keys or not keys:
        return  # DATABASES["x"][computed] = ... (which key is unknown), DATABASES[computed] = ...
    targets = _candidates(by_alias, order, alias, value)
    plain = reader.value(value)
    for entry in targets:
        _set(entry, tuple(k for k in keys if k is not None), plain, value)


def _update(by_alias: dict[str, list[Entry]], order: list[Entry], path: list[str | None], arg: ast.expr | None,
            node: ast.AST, reader: _Reader) -> None:
    """``DATABASES[alias](["OPTIONS"]).update(arg)``: a literal dict's keys are written, anything else
    makes what it updates computed."""
    alias, keys = path[0], path[1:]
    if None in keys:
        return
    plain = reader.value(arg) if arg is not None else NotLiteral(_text(node))
    for entry in _candidates(by_alias, order, alias, node):
        prefix = tuple(k for k in keys if k is not None)
        if isinstance(plain, dict):
            for k, v in plain.items():
                _set(entry, (*prefix, k), v, node)
        elif prefix:
            _set(entry, prefix, plain, node)
        else:
            for key in _JUDGED[1:]:
                entry.values[key] = plain


def _candidates(by_alias: dict[str, list[Entry]], order: list[Entry], alias: str | None, node: ast.AST) -> list[Entry]:
    if alias is None:
        return [e for entries in by_alias.values() for e in entries]
    if alias not in by_alias:  # an entry written in another module (a settings module star-imported here)
        entry = Entry(alias, node, partial=True)
        by_alias[alias] = [entry]
        order.append(entry)
    return by_alias[alias]


def _set(entry: Entry, keys: tuple[str, ...], plain: object, node: ast.AST) -> None:
    for stale in [k for k in entry.anchors if k[:len(keys)] == keys]:
        del entry.anchors[stale]  # the keys under a replaced value are now the new value's
    entry.anchors[keys] = node
    if isinstance(node, ast.Dict):
        for k in node.keys:
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                entry.anchors[(*keys, k.value)] = k
    entry.written.add(keys)
    if len(keys) == 1:
        entry.values[keys[0]] = plain
        return
    head, rest = keys[0], keys[1:]
    inner = entry.values.get(head, {})
    if isinstance(inner, dict):
        inner = dict(inner)
        container = inner
        for key in rest[:-1]:
            nxt = container.get(key, {})
            if not isinstance(nxt, dict):
                return  # writing into a value that is not literal: it stays so
            container[key] = nxt = dict(nxt)
            container = nxt
        container[rest[-1]] = plain
        entry.values[head] = inner


def _databases_path(target: ast.expr) -> list[str | None] | None:
    """``DATABASES["a"]["OPTIONS"]`` -> ``["a", "OPTIONS"]`` (None for a computed key); None: not DATABASES."""
    path: list[str | None] = []
    while isinstance(target, ast.Subscript):
        key = target.slice
        path.append(key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None)
        target = target.value
    if isinstance(target, ast.Name) and target.id == K.DJANGO_DATABASES:
        return path[::-1]
    return None


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        return [stmt.value.func.value]
    return []


def module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import time: the module body and the blocks of its ``if`` / ``try`` / ``with``."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out.extend(module_statements(stmt.body + stmt.orelse))
        elif isinstance(stmt, ast.Try):
            blocks = stmt.body + stmt.orelse + stmt.finalbody
            for handler in stmt.handlers:
                blocks = blocks + handler.body
            out.extend(module_statements(blocks))
        elif isinstance(stmt, ast.With):
            out.extend(module_statements(stmt.body))
    return out


def _text(expr: ast.AST) -> str:
    text = ast.unparse(expr)
    return text if len(text) <= 60 else text[:57] + "..."


# -- judging what a module writes, for the rules -----------------------------------------------------------
#: Stands for the project's ASGI evidence in a deferred message, until the index knows it.
ASGI_PLACEHOLDER = "<<asgi>>"


@dataclass(frozen=True)
class SettingsVerdict(Deferred):
    """A settings problem of an entry: the message (with :data:`ASGI_PLACEHOLDER` for the project's
    evidence), whether it holds only if the project serves ASGI (True), only if it does not (False) or
    either way (None), and the setting it is about (``default/CONN_MAX_AGE``) in an entry made by the
    module ``module`` (``root:dotted``): another module writing that setting decides instead ("" when
    the module itself writes into an entry made elsewhere)."""

    message: str
    asgi: bool | None
    path: str
    module: str


def judge_module(tree: ast.Module, ctx: FileContext, code: str) -> list[tuple[Entry, Problem, bool | None]]:
    """The problems of rule ``code`` in the entries the module writes, each with when it holds: None
    (whatever the project serves), True (only if it serves ASGI), False (only if it does not)."""
    out: list[tuple[Entry, Problem, bool | None]] = []
    for entry in database_entries(tree, ctx):
        plain = {m.message: m for m in judge(entry.alias, entry.values, Facts()) if m.code == code}
        under = {m.message: m for m in judge(entry.alias, entry.values, Facts(asgi=ASGI_PLACEHOLDER))
                 if m.code == code}
        out.extend((entry, m, None) for text, m in plain.items() if text in under)
        out.extend((entry, m, False) for text, m in plain.items() if text not in under)
        out.extend((entry, m, True) for text, m in under.items() if text not in plain)
    return out


def report_module(tree: ast.Module, ctx: FileContext, code: str) -> None:
    """Report (or defer, on the project's ASGI fact) rule ``code``'s problems in the module's entries,
    each on the key it is about (``CONN_MAX_AGE``, the ``"pool"`` key)."""
    for entry, problem, when in judge_module(tree, ctx, code):
        node = entry.anchor(problem.key)
        if when is None and entry.partial:
            ctx.report(node, problem.message, severity=problem.severity)
        else:
            path = "" if entry.partial else "/".join((entry.alias, *problem.key))
            ctx.defer(node, SettingsVerdict(problem.message, when, path, f"{ctx.root}:{ctx.module}"),
                      severity=problem.severity)


def resolve_verdict(data: SettingsVerdict, index: ProjectIndex) -> str | None:
    """The message of a deferred verdict once the project is known (its ASGI evidence, the settings
    other modules write), or None."""
    asgi = index.asgi(data.module.rpartition(":")[0])
    if data.asgi is not None and data.asgi != (asgi is not None):
        return None
    if data.path and index.settings_written(data.path, data.module):
        return None  # split settings: another module overrides it (production.py sets CONN_MAX_AGE = 0)
    return data.message.replace(ASGI_PLACEHOLDER, asgi or "")


def database_writes(source: bytes, tree: ast.Module) -> list[str]:
    """The settings the module writes into ``DATABASES`` entries, as paths (``default``,
    ``default/CONN_MAX_AGE``, ``default/OPTIONS/pool``): item assignments and literal ``update()`` dicts."""
    if K.DJANGO_DATABASES.encode() not in source:
        return []
    out: list[str] = []
    for stmt in module_statements(tree.body):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            path = _databases_path(stmt.targets[0])
            if path and None not in path:
                out.append("/".join(p for p in path if p is not None))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
                and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "update" \
                and len(stmt.value.args) == 1 and isinstance(stmt.value.args[0], ast.Dict):
            path = _databases_path(stmt.value.func.value)
            if path and None not in path:
                head = "/".join(p for p in path if p is not None)
                out.extend(f"{head}/{k.value}" for k in stmt.value.args[0].keys
                           if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return sorted(set(out))


class SettingsRule(Rule):
    """What the rules judging ``DATABASES`` entries share (PW109, PW110): each settings module's entries
    judged for the rule's code (:func:`report_module`), and what depends on the whole project decided
    with the index (:func:`resolve_verdict`). Test modules are not judged."""

    NODES = (ast.Module,)
    DEFERRED = SettingsVerdict

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        if ctx.is_test:
            return
        assert isinstance(node, ast.Module)
        report_module(node, ctx, self.CODE)

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        """A problem that holds only under ASGI (or only without), or that another settings module
        overrides: decided by the project's evidence."""
        assert isinstance(pending.data, SettingsVerdict)
        return resolve_verdict(pending.data, index)
