"""Does some path leave a connection unreleased? Structured path analysis for PW105.

Given a function and the statement that acquires ``var``, follows the statements after it —
branches, loops, ``try``/``finally``, ``with`` — outwards to the end of the function, and
reports the first exit that does not release it: a ``return``, a ``raise``, the end of the
function, a ``yield`` the caller may throw into, or (``exceptions=True``) any statement that can
raise before an unprotected release.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from poolwarden.check import knowledge as K
from poolwarden.check.scope import Acquisition, dotted_text, nested_blocks


@dataclass(frozen=True)
class Leak:
    line: int
    why: str  # e.g. "the `return` at line 14"


_RELEASED = "released"
_FALL = "fall"


def find_leak(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition, exceptions: bool) -> Leak | None:
    var = acq.var
    chain = _locate(func.body, acq.stmt)
    if chain is None:
        return None
    # On exception paths, the statements that can raise: any after the acquisition; for a lazy session
    # (it holds no connection until its first statement), only those from its first use on.
    raise_from = None if not exceptions else _first_use(func, acq) if acq.lazy else 0
    # Scan what follows the acquisition, block by block outwards.
    for block, index, owner in reversed(chain):
        if isinstance(owner, ast.Try) and block is owner.body and _releases_any(owner.finalbody, var):
            return None
        outcome = _scan(block[index + 1:], var, raise_from)
        if isinstance(outcome, Leak):
            return outcome
        if outcome == _RELEASED:
            return None
    end = func.body[-1]
    return Leak(end.end_lineno or end.lineno, f"the end of `{func.name}()`")


def _first_use(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition) -> int:
    """The first line after the acquisition that mentions its variable (past the end when none does)."""
    after = acq.stmt.end_lineno or acq.stmt.lineno
    lines = [n.lineno for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == acq.var and n.lineno > after]
    return min(lines, default=(func.end_lineno or after) + 1)


def _may_raise(stmt: ast.stmt, raise_from: int | None) -> bool:
    """Whether an exception from ``stmt`` counts as a path out (see :func:`find_leak`)."""
    return raise_from is not None and (stmt.end_lineno or stmt.lineno) >= raise_from


def _locate(
    stmts: list[ast.stmt], target: ast.stmt, owner: ast.stmt | None = None
) -> list[tuple[list[ast.stmt], int, ast.stmt | None]] | None:
    """The chain of (block, index, owner statement) from the function body down to ``target``."""
    for i, stmt in enumerate(stmts):
        if stmt is target:
            return [(stmts, i, owner)]
        for block in nested_blocks(stmt):
            found = _locate(block, target, stmt)
            if found is not None:
                return [(stmts, i, owner), *found]
    return None


def _scan(stmts: list[ast.stmt], var: str, raise_from: int | None) -> str | Leak:
    for stmt in stmts:
        outcome = _stmt(stmt, var, raise_from)
        if outcome != _FALL:
            return outcome
    return _FALL


def _stmt(stmt: ast.stmt, var: str, raise_from: int | None) -> str | Leak:
    if _releases(stmt, var):
        return _RELEASED
    if isinstance(stmt, ast.Return):
        if _hands_over(stmt.value, var):
            return _RELEASED  # the caller owns it (inside a tuple or an object: see escapes())
        # `return conn.execute(q).fetchone()`: the rows leave, the connection does not
        return Leak(stmt.lineno, f"the `return` at line {stmt.lineno}")
    if isinstance(stmt, ast.Raise):
        return Leak(stmt.lineno, f"the `raise` at line {stmt.lineno}")
    if isinstance(stmt, ast.If):
        return _branches([stmt.body, stmt.orelse], var, raise_from)
    if isinstance(stmt, ast.Match):
        return _branches([c.body for c in stmt.cases] + [[]], var, raise_from)
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        inner = _scan(stmt.body, var, raise_from)
        return inner if isinstance(inner, Leak) else _FALL
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        if _may_raise(stmt, raise_from) and any(_has_call(item.context_expr) for item in stmt.items):
            return Leak(stmt.lineno, f"an exception at line {stmt.lineno}")
        return _scan(stmt.body, var, raise_from)
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        if _releases_any(stmt.finalbody, var):  # type: ignore[attr-defined]
            return _RELEASED
        body = _scan(stmt.body, var, raise_from)  # type: ignore[attr-defined]
        if isinstance(body, Leak):
            return body
        outcomes = [_scan(h.body, var, raise_from) for h in stmt.handlers]  # type: ignore[attr-defined]
        for outcome in outcomes:
            if isinstance(outcome, Leak):
                return outcome
        if body == _RELEASED and all(o == _RELEASED for o in outcomes):
            return _RELEASED
        return _FALL
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return _FALL
    if _has_yield(stmt):
        return Leak(stmt.lineno, f"an exception thrown into the `yield` at line {stmt.lineno}")
    if _may_raise(stmt, raise_from) and _has_call(stmt):
        return Leak(stmt.lineno, f"an exception at line {stmt.lineno}")
    return _FALL


def _branches(blocks: list[list[ast.stmt]], var: str, raise_from: int | None) -> str | Leak:
    outcomes = [_scan(b, var, raise_from) for b in blocks]
    for outcome in outcomes:
        if isinstance(outcome, Leak):
            return outcome
    return _RELEASED if all(o == _RELEASED for o in outcomes) else _FALL


def _releases(stmt: ast.stmt, var: str) -> bool:
    if isinstance(stmt, (ast.For, ast.AsyncFor)):  # for conn in conns: conn.close()
        iterated, target = stmt.iter, stmt.target
        return (isinstance(iterated, ast.Name) and iterated.id == var and isinstance(target, ast.Name)
                and _releases_any(stmt.body, target.id))
    if isinstance(stmt, (ast.Expr, ast.Assign)):
        value = stmt.value
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            attr = value.func.attr
            if attr in K.RELEASE_METHODS:
                recv = value.func.value
                if isinstance(recv, ast.Name) and recv.id == var:
                    return True
                if any(isinstance(a, ast.Name) and a.id == var for a in value.args):
                    return True
        if isinstance(value, ast.Call) and any(isinstance(a, ast.Name) and a.id == var for a in value.args):
            name = dotted_text(value.func).rpartition(".")[2]
            if any(w in name for w in K.RELEASE_HELPER_WORDS):
                return True
    return False


def releases_somewhere(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition) -> bool:
    """Whether ``func`` gives ``acq``'s connection back itself anywhere (``conn.close()``, ``putconn(conn)``)."""
    return _releases_any(func.body, acq.var)


def _releases_any(stmts: list[ast.stmt], var: str) -> bool:
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.stmt) and _releases(node, var):
                return True
    return False


def escapes(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition, stores: bool = True) -> bool:
    """Whether the connection is handed to someone else: stored, passed on, returned, context-managed.

    Passing it to a function (``_wait(conn)``, ``register(conn)``) hands it over only when this
    function does not give it back itself: one that closes it owns it, whatever its callees do with it.
    With ``stores=False``, storing it in an attribute (``self.conn = conn``) does not count.
    """
    var = acq.var
    owned = _releases_any(func.body, var)
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and _mentions_exact(node.value, var):
            if any(not isinstance(t, ast.Name) and (stores or not isinstance(t, ast.Attribute))
                   for t in node.targets):
                return True
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                expr = item.context_expr
                if _mentions_exact(expr, var) or (
                    isinstance(expr, ast.Call) and any(_mentions_exact(a, var) for a in expr.args)
                ):
                    return True
        elif isinstance(node, ast.Call) and node is not acq.call:
            name = dotted_text(node.func).rpartition(".")[2]
            passes = any(_mentions_exact(a, var) for a in node.args) or any(
                _mentions_exact(k.value, var) for k in node.keywords
            )
            if passes and not owned and not any(w in name for w in K.RELEASE_HELPER_WORDS):
                return True
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)) and not isinstance(
            getattr(node, "ctx", None), ast.Store
        ):
            values = node.values if isinstance(node, ast.Dict) else node.elts
            if any(_mentions_exact(v, var) for v in values if v is not None):
                return True
    return False


def dropped_in_handler(func: ast.FunctionDef | ast.AsyncFunctionDef, acq: Acquisition) -> Leak | None:
    """The connection, kept only in attributes (``self.conn = conn``), dropped by an ``except`` clause.

    A handler of a ``try`` after the store that clears such an attribute (``self.conn = None``,
    ``del self.conn``) without closing the connection forgets its last reference: the connection
    stays open until garbage collection. None when it is also kept or passed anywhere else, or
    the handler (or the ``finally``) closes it.
    """
    var = acq.var
    stored: dict[str, int] = {}  # attribute text -> line of the first store
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and _mentions_exact(node.value, var):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    stored.setdefault(dotted_text(target), node.lineno)
    if not stored or escapes(func, acq, stores=False):
        return None
    first = min(stored.values())
    for node in ast.walk(func):
        if not isinstance(node, ast.Try) or node.lineno <= first or not any(_has_call(s) for s in node.body):
            continue
        if _closes(node.finalbody, var, stored):
            continue
        for handler in node.handlers:
            dropped = _cleared(handler.body, stored)
            if dropped is not None and not _closes(handler.body, var, stored):
                return Leak(handler.lineno, f"the `except` at line {handler.lineno} clears `{dropped}`")
    return None


def _cleared(stmts: list[ast.stmt], stored: dict[str, int]) -> str | None:
    """The stored attribute that ``stmts`` set to None or delete, if any."""
    for stmt in stmts:
        for node in ast.walk(stmt):
            cleared = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None
            if not (cleared or isinstance(node, ast.Delete)):
                continue
            assert isinstance(node, (ast.Assign, ast.Delete))
            targets = node.targets
            for target in targets:
                if isinstance(target, ast.Attribute) and dotted_text(target) in stored:
                    return dotted_text(target)
    return None


def _closes(stmts: list[ast.stmt], var: str, stored: dict[str, int]) -> bool:
    """``var`` or one of the attributes holding it is released in ``stmts``."""
    if _releases_any(stmts, var):
        return True
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in K.RELEASE_METHODS and dotted_text(node.func.value) in stored:
                return True
    return False


def _mentions_exact(expr: ast.AST | None, var: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == var


def _hands_over(expr: ast.expr | None, var: str) -> bool:
    """``return conn`` / ``return conn if ok else None``: the value returned may be the connection."""
    if isinstance(expr, ast.IfExp):
        return _hands_over(expr.body, var) or _hands_over(expr.orelse, var)
    if isinstance(expr, ast.BoolOp):
        return any(_hands_over(v, var) for v in expr.values)
    if isinstance(expr, ast.Await):
        return _hands_over(expr.value, var)
    return _mentions_exact(expr, var)


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(node))


def _has_yield(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))
