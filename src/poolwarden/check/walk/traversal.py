"""The generic traversal of the walk: each node once, rules' ``visit`` before and ``leave`` after it.

Rules declare the node types they want (``Rule.NODES``); :class:`Traversal` calls
``rule.visit(node, ctx)`` before a node's children and ``rule.leave(node, ctx)`` after them, and
hands the nodes in :attr:`Traversal.special` to their handler (the walker's mixins) instead of
walking their children itself. Contexts and operators are never visited; literals, ``pass`` and
``break`` only when a rule asks for them. This is the hot loop of ``check``: keep it lean.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

from poolwarden.check.context import FileContext
from poolwarden.check.rule import Rule

_AST = ast.AST

_LEAVES = (ast.Constant, ast.Pass, ast.Break, ast.Continue)
_NOT_WALKED = frozenset({"ctx", "op", "ops", "type_ignores"})  # Load/Store, operators: no facts in them


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node_type: type) -> tuple[str, ...]:
    """The fields of ``node_type`` worth walking into (memoised per type)."""
    found = _FIELDS.get(node_type)
    if found is None:
        found = _FIELDS[node_type] = tuple(f for f in node_type._fields if f not in _NOT_WALKED)  # type: ignore[attr-defined]
    return found


class Traversal:
    """The generic walk: rule dispatch around every node, children in field order.

    Subclasses fill :attr:`special` with the node types whose walk they take over (a handler visits
    the node's children itself, in the order its facts need); every other node's children are
    walked by :meth:`children`. Each node is visited once.
    """

    special: dict[type, Callable[[ast.AST], None]]

    def __init__(self, ctx: FileContext, rules: Sequence[Rule]) -> None:
        self.ctx = ctx
        self.visits: dict[type, list[Rule]] = {}
        self.leaves: dict[type, list[Rule]] = {}
        for rule in rules:
            for node_type in rule.NODES:
                if type(rule).visit is not Rule.visit:
                    self.visits.setdefault(node_type, []).append(rule)
                if type(rule).leave is not Rule.leave:
                    self.leaves.setdefault(node_type, []).append(rule)
        self.special = {}
        # Leaves no rule and no handler looks at: a literal, `pass`, `break` (contexts and operators
        # are never visited: see _fields).
        self.inert = frozenset(t for t in _LEAVES if t not in self.visits and t not in self.leaves)

    def visit(self, node: _AST) -> None:
        ctx = self.ctx
        t = type(node)
        rules = self.visits.get(t)
        if rules is not None:
            if t is ast.Call:
                ctx.call(node)  # type: ignore[arg-type]
            for rule in rules:
                ctx.rule = rule
                rule.visit(node, ctx)
        special = self.special.get(t)
        if special is not None:
            special(node)
        else:
            self.children(node)
        rules = self.leaves.get(t)
        if rules is not None:
            for rule in rules:
                ctx.rule = rule
                rule.leave(node, ctx)

    def children(self, node: _AST) -> None:
        visit = self.visit
        skip = self.inert
        for name in _fields(type(node)):
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, _AST) and type(item) not in skip:
                        visit(item)
            elif isinstance(value, _AST) and type(value) not in skip:
                visit(value)

    def body(self, stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            self.visit(stmt)
