"""What an ``except`` handler does with the error it caught: propagate it, or carry on.

Used by PW101, and by the walker (:func:`keeps_every_error`: which calls' errors stay inside a
function). A handler *propagates* when every path raises, when it classifies the error and
re-raises some (``raise_if_transient(exc)``, ``if is_transient(exc): raise``), answers 5xx,
hands the error on (``return None, str(exc)``, ``error = str(exc)``), or gives up a retry loop.
"""

from __future__ import annotations

import ast
import re

from poolwarden.check import knowledge as K
from poolwarden.check.scope import dotted_text

_ERROR_SLOT = re.compile(r"err|fail|exc", re.I)

def swallow_outcome(handler: ast.ExceptHandler, retry_loop: bool) -> str | None:
    """How the handler carries on, or None when it propagates, classifies, answers 5xx or
    hands the error on in an explicit error slot (``return None, str(exc)``)."""
    body = handler.body
    if _always_raises(body):
        return None
    exc_name = handler.name
    for node in walk_handler(body):
        if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and says_failed(node.value):
            return None  # the answer says it failed (`success=False`, `{"error": ...}`, "Unable to ...")
        if isinstance(node, ast.Call) and dotted_text(node.func).rpartition(".")[2] not in K.LOG_METHODS \
                and any(says_failed(a, text=False) for a in (*node.args, *(k.value for k in node.keywords))):
            return None  # the failure is sent on: `await stream.send(ErrorUpdate(error="..."))`
        if isinstance(node, ast.Return) and node.value is not None and exc_name is not None and any(
            isinstance(n, ast.Name) and n.id == exc_name for n in ast.walk(node.value)
        ) and not _statuses(node.value, 200, 499):
            return None  # the error travels on in the return value (but not as a 2xx/4xx answer)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any((isinstance(t, ast.Name) and _ERROR_SLOT.search(t.id))
                   or (isinstance(t, ast.Attribute) and _ERROR_SLOT.search(t.attr)) for t in targets):
                return None  # an explicit error slot: `error = str(exc)` / `self.error = ...`, read later
    for node in walk_handler(body):
        if isinstance(node, ast.Raise):
            if retry_loop or _conditional_raise_ok(body, node, exc_name):
                return None  # classifies the error, or gives up a retry loop by raising
            return _describe(body)
        if isinstance(node, ast.Call):
            name = dotted_text(node.func).rpartition(".")[2]
            if K.TRANSIENT_WORD in name.lower() and not _is_test(node, body):
                return None  # raise_if_transient(exc) and friends
            if name in K.RAISING_CALLS:
                return None
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and 500 <= node.value <= 599:
            return None
        if isinstance(node, ast.Attribute) and node.attr in K.HTTP_5XX_NAMES:
            return None
        if isinstance(node, ast.Name) and node.id in K.HTTP_5XX_NAMES:
            return None
    if retry_loop and not any(isinstance(n, ast.Return) for n in walk_handler(body)):
        return None
    return _describe(body)


def says_failed(value: ast.expr, text: bool = True) -> bool:
    """Whether a returned value tells its receiver that the work failed: a status-first tuple
    ``(False, msg)``, a ``success=False`` / ``{"ok": False}`` flag, an error field that carries
    something (``errormsg=str(e)``, ``{"error": "..."}``), or (``text``) text that says so
    ("Unable to ...", "Failed to ...", "could not")."""
    if isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.Constant) \
            and value.elts[0].value is False:
        return True
    for node in ast.walk(value):
        pairs: list[tuple[str, ast.expr]] = []
        if isinstance(node, ast.Call):
            pairs = [(k.arg, k.value) for k in node.keywords if k.arg is not None]
            if any(_bad_request(v) for k, v in pairs if k in K.STATUS_KEYWORDS):
                return True
        elif isinstance(node, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        elif text and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and K.FAILURE_TEXT.search(node.value):
            return True
        for name, item in pairs:
            constant = item.value if isinstance(item, ast.Constant) else ...
            if name in K.FAILURE_FLAGS and constant in (False, 0):
                return True
            if name in K.ERROR_FIELDS and constant is not None and constant is not False and constant != "":
                return True
    return False


def _bad_request(status: ast.expr) -> bool:
    """``status=400`` / ``status=status.HTTP_400_BAD_REQUEST``: the answer says the request failed."""
    if isinstance(status, ast.Constant):
        return status.value == K.BAD_REQUEST_STATUS
    return dotted_text(status).rpartition(".")[2] in K.BAD_REQUEST_NAMES


def hands_value(handler: ast.ExceptHandler, try_node: ast.AST, func: ast.AST | None) -> str | None:
    """How a made-up value goes on: ``"default"`` — a default for what the ``try`` was computing
    (``stats = None`` where the try set ``stats``), which the function's own code then uses;
    ``"return"`` — the caller receives it: an explicit ``return <value>``, or an implicit ``None``
    (a bare ``return``, or falling off the end) from a function that otherwise returns values;
    None when no value is made up."""
    bare_return = False
    for node in walk_handler(handler.body):
        if isinstance(node, ast.Return):
            if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
                return "return"
            bare_return = True
    if defaults(handler, try_node):
        return "default"
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    falls_off_end = bool(func.body) and func.body[-1] is try_node
    return "return" if (bare_return or falls_off_end) and _returns_values(func) else None


def defaults(handler: ast.ExceptHandler, try_node: ast.AST) -> list[ast.Assign | ast.AnnAssign]:
    """The handler's assignments to what the ``try`` body was computing (``stats = None``)."""
    computed = {ast.unparse(t) for t in _assigned(getattr(try_node, "body", []))}
    return [node for node in walk_handler(handler.body) if isinstance(node, (ast.Assign, ast.AnnAssign))
            and computed & {ast.unparse(t) for t in _assigned([node])}]


def _assigned(stmts: list[ast.stmt]) -> list[ast.expr]:
    """Targets assigned by the statements (not inside nested functions)."""
    out: list[ast.expr] = []
    for node in walk_handler(stmts):
        if isinstance(node, ast.Assign):
            out.extend(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            out.append(node.target)
    return out


def _returns_values(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in walk_handler(func.body):
        if isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            return True
    return False


def _statuses(expr: ast.AST, low: int, high: int) -> bool:
    return any(
        isinstance(n, ast.Constant) and type(n.value) is int and low <= n.value <= high for n in ast.walk(expr)
    )


def _is_test(call: ast.Call, body: list[ast.stmt]) -> bool:
    """Whether a ``*transient*`` call is only the test of an ``if`` that does not raise."""
    for node in walk_handler(body):
        if isinstance(node, ast.If) and any(c is call for c in ast.walk(node.test)):
            return not any(isinstance(n, ast.Raise) for n in walk_handler(node.body))
    return False


def _conditional_raise_ok(body: list[ast.stmt], raise_node: ast.Raise, exc_name: str | None) -> bool:
    """A raise under an ``if`` that inspects the error (``exc``, ``isinstance``, ``*transient*``)."""
    if exc_name is not None and raise_node.cause is not None and any(
        isinstance(n, ast.Name) and n.id == exc_name for n in ast.walk(raise_node.cause)
    ):
        return True  # raise Something(...) from exc: the error travels on
    for node in walk_handler(body):
        if isinstance(node, ast.If) and any(n is raise_node for n in walk_handler(node.body)):
            for sub in ast.walk(node.test):
                if isinstance(sub, ast.Name) and (sub.id == exc_name or sub.id == "isinstance"):
                    return True
                if isinstance(sub, ast.Call) and K.TRANSIENT_WORD in dotted_text(sub.func).lower():
                    return True
            return False
    return True  # an unconditional raise somewhere down a branch (e.g. after a log line)


def _always_raises(stmts: list[ast.stmt]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Raise):
        return True
    if isinstance(last, ast.If):
        return _always_raises(last.body) and _always_raises(last.orelse)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return _always_raises(last.body)
    if isinstance(last, ast.Try):
        return _always_raises(last.body) or _always_raises(last.finalbody)
    value = last.value if isinstance(last, ast.Expr) else None
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call):
        return dotted_text(value.func).rpartition(".")[2] in K.RAISING_CALLS
    return False


def keeps_every_error(handler: ast.ExceptHandler) -> bool:
    """A clause that takes every exception (bare, ``Exception``, ``BaseException``) and raises nothing
    anywhere in its body: no error of its ``try`` body reaches the function's caller."""
    caught = handler.type
    if caught is not None and dotted_text(caught).rpartition(".")[2] not in K.BROAD_EXCEPTIONS:
        return False
    for node in walk_handler(handler.body):
        if isinstance(node, ast.Raise):
            return False
        if isinstance(node, ast.Call) and dotted_text(node.func).rpartition(".")[2] in K.RAISING_CALLS:
            return False
    return True


def walk_handler(stmts: list[ast.stmt]) -> list[ast.AST]:
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(stmts))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        out.append(node)
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


def is_retry_loop(loop: ast.AST) -> bool:
    if isinstance(loop, ast.While):
        return True
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        it = loop.iter
        return isinstance(it, ast.Call) and dotted_text(it.func) in ("range", "itertools.count", "count")
    return False


def _describe(body: list[ast.stmt]) -> str:
    last = body[-1] if body else None
    if isinstance(last, ast.Return):
        if last.value is None or (isinstance(last.value, ast.Constant) and last.value.value is None):
            return "`return None`"
        text = ast.unparse(last.value)
        return f"`return {text if len(text) <= 40 else text[:37] + '...'}`"
    if isinstance(last, ast.Pass) and len(body) == 1:
        return "`pass`"
    if isinstance(last, ast.Continue):
        return "`continue` (the item is skipped)"
    if isinstance(last, ast.Break):
        return "`break`"
    if all(_is_log(s) or isinstance(s, ast.Pass) for s in body):
        return "a log line"
    if isinstance(last, (ast.Assign, ast.AnnAssign)):
        text = ast.unparse(last)
        return f"a default value (`{text if len(text) <= 40 else text[:37] + '...'}`)"
    return "a normal return"


def _is_log(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
    return isinstance(value, ast.Call) and dotted_text(value.func).rpartition(".")[2] in K.LOG_METHODS
