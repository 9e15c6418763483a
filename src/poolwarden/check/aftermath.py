"""What a function does after an ``except`` handler carried on: where the made-up value goes.

Used by the swallow scan (PW101 / PW108). Three shapes make a handler that looks like a swallow
harmless, and all three are decided by the statements around the ``try`` in its function:

- the ``try`` cannot run: a ``return`` / ``raise`` / ``continue`` / ``break`` earlier in a block
  that holds it (code left behind after an early return);
- the handler falls through to a ``raise`` after the ``try`` (only assignments and expression
  statements between): the failure propagates;
- the default the handler sets only switches the function to its other way of getting the answer
  (a fallback): after the ``try`` the name is tested (``if rows:``, ``if rows is not None:``), the
  branch for a real value returns, there is no ``else``, and nothing after that reads the name —
  so the default is never handed on as an answer, the function's fallback path runs instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

_ENDS = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_BLOCK_FIELDS = ("body", "orelse", "finalbody")


def _blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in _BLOCK_FIELDS:
        value = getattr(stmt, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value
    for handler in getattr(stmt, "handlers", ()) or ():
        yield handler.body
    for case in getattr(stmt, "cases", ()) or ():
        yield case.body


def path_to(body: list[ast.stmt], target: ast.AST) -> list[tuple[list[ast.stmt], int]] | None:
    """The blocks from ``body`` down to the one that holds ``target``, each with the index of the
    statement on the way (``target`` itself in the last); None when ``target`` is not there.
    Nested functions and classes are not entered."""
    for i, stmt in enumerate(body):
        if stmt is target:
            return [(body, i)]
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for block in _blocks(stmt):
            inner = path_to(block, target)
            if inner is not None:
                return [(body, i), *inner]
    return None


def unreachable(path: list[tuple[list[ast.stmt], int]]) -> bool:
    """A statement that ends its block (``return``, ``raise``...) comes before the way down."""
    return any(isinstance(s, _ENDS) for block, i in path for s in block[:i])


def raises_next(path: list[tuple[list[ast.stmt], int]], handler: ast.ExceptHandler) -> bool:
    """The handler falls through and, after the ``try``, the block raises before it can branch or
    return (only assignments and expression statements come first: ``self.busy = False``)."""
    if handler.body and isinstance(handler.body[-1], _ENDS):
        return False
    block, i = path[-1]
    for stmt in block[i + 1:]:
        if isinstance(stmt, ast.Raise):
            return True
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
            return False
    return False


def only_selects_fallback(path: list[tuple[list[ast.stmt], int]], names: set[str]) -> bool:
    """The defaults in ``names`` (set by the handler) only make the function skip a branch that
    returns the real value, and go on to its fallback (see the module docstring)."""
    if not names:
        return False
    block, i = path[-1]
    rest = block[i + 1:]
    for n, stmt in enumerate(rest):
        read = _reads(stmt, names)
        if not read:
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and _targets(stmt) <= names:
            continue  # `rows = [r for r in rows if r.ok]`: still the same value, filtered
        if not isinstance(stmt, ast.If) or stmt.orelse or not stmt.body or not isinstance(stmt.body[-1], ast.Return):
            return False
        if not _is_presence_test(stmt.test, names):
            return False
        return not any(_reads(later, names) for later in rest[n + 1:])
    return False


def _targets(stmt: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {t.id if isinstance(t, ast.Name) else "" for t in targets}


def _reads(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names and isinstance(n.ctx, ast.Load) for n in ast.walk(node))


def _is_presence_test(test: ast.expr, names: set[str]) -> bool:
    """``x``, ``x is not None``, ``len(x)``, ``x and y`` over the names: true only for a real value."""
    if isinstance(test, ast.Name):
        return test.id in names
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_is_presence_test(v, names) for v in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot):
        right = test.comparators[0]
        return _is_presence_test(test.left, names) and isinstance(right, ast.Constant) and right.value is None
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "len" and test.args:
        return _is_presence_test(test.args[0], names)
    return False
