"""Handlers that swallow a database failure, and what the swallow does to whoever ran the code.

Rule-neutral: PW101 (swallowed-db-error) reports the *lie* — the caller receives a made-up value
it acts on — and PW108 (skipped-db-work) the *skip* — work silently dropped with a log line,
``pass`` or ``continue``, or a made-up value nobody reads. Both run the same scan (:class:`SwallowScan`),
defer every candidate, and split them in :func:`decide` once the project index knows the callers.

A candidate is a lie when the handler makes up a value (see :func:`handlers.hands_value`): a
default the function itself goes on with, or a value it returns — unless no one reads that: the
function is a Celery task (its return value goes to a result backend), or every project function
that calls it drops the result (``f()`` / ``await f()`` as a statement). A function no checked
code calls (a route, a handler a framework dispatches to) keeps the lie: its answer goes out of
the process.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.aftermath import only_selects_fallback, path_to, raises_next, unreachable
from poolwarden.check.context import STDLIB_ROOTS, FileContext
from poolwarden.check.finding import Deferred, Pending, Span
from poolwarden.check.handlers import defaults, hands_value, is_retry_loop, says_failed, swallow_outcome, walk_handler
from poolwarden.check.rule import Rule
from poolwarden.check.scope import dotted_text

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

LIE_ADVICE = ("callers cannot tell 'no' from 'could not check'; re-raise transient errors "
              "(`raise_if_transient(exc)` or `if is_transient(exc): raise`)")
SKIP_ADVICE = ("nothing retries the work and no caller is told; re-raise transient errors "
               "(`raise_if_transient(exc)`) or record what was skipped where it will be retried")

_LOOPS = (ast.While, ast.For, ast.AsyncFor)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True, slots=True)
class Swallow(Deferred):
    """A handler that swallows what its ``try`` body raises, if that body reaches the database."""

    caught: str  # "`except Exception`"
    outcome: str  # "`return None`", "a log line", ...
    refs: tuple[tuple[str, str], ...]  # project calls in the body: (ref, "name() at line N")
    strict: bool  # False: only a DB call one hop away counts (a best-effort side step otherwise)
    handler_refs: tuple[str, ...]  # project calls in the handler (reaching the DB: it fails again)
    site: str | None  # a direct DB call in the body, when the body has one
    lie: bool  # the handler makes up a value (whether anyone reads it is decided with the callers)
    returned: bool  # ... and returns it (False: a default the function's own code goes on with)
    func: str  # the enclosing function's ref, for its callers ("" for a nested function)
    task: bool  # the enclosing function is a Celery task


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a candidate turned out to be: a lie or a skip, with the finding's message parts."""

    lie: bool
    evidence: str  # "`db.execute() at line 20`" or "`load() at line 4` reaches ..."
    why: str  # for a skip that was a value: why nobody reads it ("" otherwise)


class SwallowScan:
    """Per-file state of the scan: the loops around the walk point, per function."""

    NODES = (ast.Try, getattr(ast, "TryStar", ast.Try), *_LOOPS, *_FUNCTIONS, ast.Module)

    def __init__(self) -> None:
        self.loops: list[list[ast.AST]] = [[]]

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, _FUNCTIONS):
            self.loops.append([])
        elif isinstance(node, _LOOPS):
            self.loops[-1].append(node)

    def leave(self, node: ast.AST, ctx: FileContext) -> list[tuple[ast.ExceptHandler, Span, Swallow]]:
        """After a ``try``'s children: its handlers that swallow a database failure, each deferred data."""
        if isinstance(node, _FUNCTIONS):
            self.loops.pop()
            return []
        if isinstance(node, _LOOPS):
            self.loops[-1].pop()
            return []
        if not isinstance(node, ast.Try) and type(node).__name__ != "TryStar":
            return []
        frame = ctx.frame_of(node)  # type: ignore[arg-type]
        if frame is None or not (frame.cited() or frame.refs) or not ctx.in_function or ctx.is_test:
            return []
        scope = ctx.function
        func = scope.node
        if func is not None and K.HEALTH_FUNCTION.search(func.name):
            return []
        retry = any(is_retry_loop(loop) for loop in self.loops[-1])
        ref = ctx.function_ref()
        path = path_to(func.body, node) if func is not None else None
        if path is not None and unreachable(path):
            return []  # after an early return: this code never runs
        out: list[tuple[ast.ExceptHandler, Span, Swallow]] = []
        handlers: list[ast.ExceptHandler] = node.handlers  # type: ignore[attr-defined]
        for n, handler in enumerate(handlers):
            caught = _catches_outage(handler.type, ctx)
            if caught is None:
                continue
            if any(_takes_every_outage(h.type, ctx) for h in handlers[:n]):
                break  # an earlier clause of this try already takes the outage: none reaches this one
            if _only_timeouts(handler.type) and _sets_deadline(node, ctx):
                continue  # the code's own deadline: a time limit by design, DB errors pass it by
            outcome = swallow_outcome(handler, retry)
            if outcome is None:
                continue
            handler_calls = [ctx.call(c) for c in walk_handler(handler.body) if isinstance(c, ast.Call)]
            if any(c.db for c in handler_calls):
                continue  # the handler itself goes to the database: during an outage it raises again
            handed = hands_value(handler, node, func)
            if path is not None and not _harmful(handler, node, handed, path):
                continue
            site = frame.cited()
            # A handler that only logs (no value handed on) after a deep chain of calls is a
            # best-effort side step; it counts when the DB is one call away or in a task.
            explicit = any(isinstance(c, (ast.Return, ast.Assign, ast.AnnAssign)) for c in walk_handler(handler.body))
            out.append((handler, _header(handler), Swallow(
                caught, outcome, () if site else tuple(frame.refs), bool(site) or explicit or scope.is_celery_task,
                tuple(c.ref for c in handler_calls if c.ref is not None), site, handed is not None,
                handed == "return", ref, scope.is_celery_task,
            )))
        return out


class SwallowRule(Rule):
    """What PW101 and PW108 share: the scan, deferral, and the decision; each says which candidates
    it wants (:meth:`wants`) and words its verdicts (:meth:`message`)."""

    DEFERRED = Swallow
    NODES = SwallowScan.NODES

    def __init__(self) -> None:
        self.scan = SwallowScan()

    def wants(self, data: Swallow) -> bool:
        """Whether a candidate may become this rule's finding (known before the callers are)."""
        return True

    def message(self, data: Swallow, verdict: Verdict) -> str | None:
        """The finding's message for this verdict, or None when the verdict is the other rule's."""
        raise NotImplementedError

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        self.scan.visit(node)

    def leave(self, node: ast.AST, ctx: FileContext) -> None:
        for handler, span, data in self.scan.leave(node, ctx):
            if self.wants(data):
                ctx.defer(handler, data, span=span)

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, Swallow)
        verdict = decide(data, index)
        return None if verdict is None else self.message(data, verdict)


def decide(data: Swallow, index: ProjectIndex) -> Verdict | None:
    """Whether the candidate swallows a database failure once the project is known, and how."""
    if any(index.reaches_db(ref) for ref in data.handler_refs):
        return None  # the handler itself goes to the database
    evidence = f"`{data.site}`" if data.site is not None else None
    for ref, desc in data.refs if evidence is None else ():
        reach = index.raises_db(ref)
        if reach is not None and (data.strict or len(reach.via) <= 1):
            evidence = f"`{desc}` reaches {reach.describe()}"
            break
    if evidence is None:
        return None
    if not data.lie:
        return Verdict(False, evidence, "")
    if not data.returned:
        return Verdict(True, evidence, "")  # the function itself goes on with the made-up value
    if data.task:
        return Verdict(False, evidence, "a Celery task's return value goes unread")
    callers = index.callers(data.func) if data.func else []
    if callers and not any(used for _, used in callers):
        n = len(callers)
        return Verdict(False, evidence, "its caller drops the result" if n == 1 else f"all {n} callers drop the result")
    return Verdict(True, evidence, "")


def _harmful(handler: ast.ExceptHandler, try_node: ast.AST, handed: str | None,
             path: list[tuple[list[ast.stmt], int]]) -> bool:
    """False when what follows the handler makes it harmless: it falls through to a ``raise``, or its
    default says it failed (``result = Result(failures=...)``) or only switches to a fallback path."""
    if raises_next(path, handler):
        return False
    if handed != "default":
        return True
    assigns = defaults(handler, try_node)
    if any(a.value is not None and says_failed(a.value) for a in assigns):
        return False
    names = {t.id for a in assigns for t in (a.targets if isinstance(a, ast.Assign) else [a.target])
             if isinstance(t, ast.Name)}
    return not only_selects_fallback(path, names)


def _only_timeouts(expr: ast.expr | None) -> bool:
    elts = expr.elts if isinstance(expr, ast.Tuple) else [expr] if expr is not None else []
    return bool(elts) and all(dotted_text(e).rpartition(".")[2] in K.TIMEOUT_ERRORS for e in elts)


def _sets_deadline(try_node: ast.AST, ctx: FileContext) -> bool:
    """The ``try`` body sets its own deadline (``asyncio.timeout``, ``asyncio.wait_for``...)."""
    return any(isinstance(n, ast.Call) and ctx.qualname(n.func) in K.DEADLINE_CALLS
               for n in walk_handler(getattr(try_node, "body", [])))


def _header(handler: ast.ExceptHandler) -> Span:
    end = handler.type
    if end is None:
        return Span(handler.lineno, handler.col_offset + 1, handler.lineno, handler.col_offset + 7)
    return Span(handler.lineno, handler.col_offset + 1, end.end_lineno or handler.lineno, (end.end_col_offset or 0) + 1)


def _takes_every_outage(expr: ast.expr | None, ctx: FileContext) -> bool:
    """A clause naming a driver's own base or outage class (``except psycopg2.OperationalError``): every
    outage of that driver stops there. (SQLAlchemy's classes do not qualify: it does not wrap every
    connect error of the async drivers.)"""
    elts = expr.elts if isinstance(expr, ast.Tuple) else [expr] if expr is not None else []
    return any((ctx.qualname(e) or "") in K.OUTAGE_CLAUSES for e in elts)


def _catches_outage(expr: ast.expr | None, ctx: FileContext) -> str | None:
    if expr is None:
        return "bare `except:`"
    if isinstance(expr, ast.Tuple):
        for elt in expr.elts:
            if _catches_outage(elt, ctx) is not None:
                return f"`except ({dotted_text(elt)}, ...)`" if len(expr.elts) > 1 else _catches_outage(elt, ctx)
        return None
    text = dotted_text(expr)
    last = text.rpartition(".")[2]
    if last in K.BROAD_EXCEPTIONS:
        return f"`except {text}`"
    if last in K.TRANSIENT_CAPABLE:
        qual = ctx.qualname(expr)
        root = (qual or text).partition(".")[0]
        if last == "Error" and root not in K.DB_MODULES:
            return None
        if qual is not None and root not in K.DB_MODULES and root not in STDLIB_ROOTS:
            return None  # another library's error (trino's DatabaseError, requests' ConnectionError)
        return f"`except {text}`"
    return None
