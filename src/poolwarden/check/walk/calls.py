"""Calls and their facts: what each call does to what is held, and what it tells its function's facts.

:class:`Calls` resolves every call once (:meth:`FileContext.call`), records a function's DB
statement, I/O and project calls (with whether a caller's transaction is open there), updates what
is held (a statement, a release, a session handed on), and marks awaited and dropped results.
"""

from __future__ import annotations

import ast

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.orm import evaluates
from poolwarden.check.scope import CallInfo, Hold, dotted_text
from poolwarden.check.walk.traversal import Traversal

_HANDLE_METHODS = K.DB_METHODS | K.CLEANUP_METHODS | K.HANDLE_METHODS


class Calls(Traversal):
    """Calls, awaits and expression statements (a mixin of :class:`Walker`)."""

    def _await(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Await)
        if isinstance(node.value, ast.Call):
            self.ctx.awaited.add(id(node.value))
        self.visit(node.value)

    def _expr(self, node: ast.AST) -> None:
        """A call (or awaited call) as a statement: its result is dropped."""
        assert isinstance(node, ast.Expr)
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call):
            self.ctx.dropped.add(id(value))
        self.visit(node.value)

    def _yield(self, node: ast.AST) -> None:
        """A generator's ``yield`` inside a transaction: as a context manager, it holds one for its
        ``with`` block (decided with the index when what is held is itself a project context manager)."""
        assert isinstance(node, ast.Yield)
        ctx = self.ctx
        if node.value is not None:
            self.visit(node.value)
        facts = ctx.function.facts
        if facts is None:
            return
        held = ctx.holding(definite=True)
        if held is not None and held.hold is Hold.TRANSACTION:
            facts.yield_tx = True
            return
        # the project context managers around it: the index decides whether one holds a transaction
        depth = len(ctx.scopes)
        facts.yield_refs.extend(h.maybe for h in ctx.held
                                if h.depth == depth and h.maybe is not None and h.maybe not in facts.yield_refs)

    def _iteration(self, node: ast.AST) -> None:
        """``for row in qs`` / ``[d for d in Doc.objects.all()]``: iterating a QuerySet runs its query."""
        assert isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension))
        self.visit(node.iter)
        ctx = self.ctx
        if ctx.db_aware and ctx.in_function and evaluates(ctx, node.iter):
            what = f"for {dotted_text(node.target)} in {dotted_text(node.iter)}"
            self._db_call(CallInfo(text=what, db=True, cite=what), node.iter.lineno)
        self.visit(node.target)
        if isinstance(node, ast.comprehension):
            self.body(node.ifs)  # type: ignore[arg-type]
        else:
            self.body(node.body)
            self.body(node.orelse)

    def _connects(self, signal: ast.expr, receiver: ast.expr) -> None:
        """``signal.connect(receiver)``: a project function registered as a signal's receiver."""
        ctx = self.ctx
        sig, func = ctx.global_ref(signal), ctx.qualname(receiver)
        if sig is not None and func is not None and ctx.is_project_ref(func):
            ctx.summary.receivers.append((sig, func if ":" in func else f"{ctx.root}:{func}"))

    def _db_call(self, info: CallInfo, line: int) -> None:
        """A call (or an evaluation) that goes to the database: the function's facts, the ``try``
        frames around it, and what it does to what is held."""
        ctx = self.ctx
        scope = ctx.function
        facts = scope.facts
        if info.effect is not K.Effect.RELEASE:
            # Cite the statement that runs: a query builder or `begin()` only when nothing else runs.
            runs = info.runs_now
            if facts is not None and (facts.db is None or (runs and not scope.db_runs)):
                facts.db, scope.db_runs = info.describe(line), runs
            if facts is not None and not scope.containing and (
                    facts.raise_db is None or (runs and not scope.raise_runs)):
                facts.raise_db, scope.raise_runs = info.describe(line), runs
            for frame in ctx.try_frames:
                (frame.statement_sites if runs else frame.db_sites).append(info.describe(line))
        H.on_statement(ctx.held, info.receiver, info.effect)
        if facts is not None:
            facts.ends_tx, facts.tail_ref = info.effect is K.Effect.END, None
        if info.locks:
            H.on_row_lock(ctx.held, info.describe(line))

    def _call(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Call)
        ctx = self.ctx
        info = ctx.call(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == K.SIGNAL_CONNECT and node.args and ctx.db_aware:
            self._connects(func.value, node.args[0])
        if info.target in K.AFTER_COMMIT and ctx.held:
            held = ctx.held[:]  # its callbacks run after the commit, when nothing of this is held
            ctx.held.clear()
            self.children(node)
            ctx.held[:] = held
        else:
            self.children(node)
        scope = ctx.function
        facts = scope.facts
        line = node.lineno
        # Seen from a caller that handed this function its session: is its transaction open here?
        view = H.caller_view(ctx.held, len(ctx.scopes)) if facts is not None and facts.handed and (
            info.io is not None or info.ref is not None) else None
        if info.receiver is not None and isinstance(node.func, ast.Attribute) and (
            info.db or info.effect or node.func.attr in _HANDLE_METHODS
        ):
            scope.receivers.add(info.receiver)
        if info.released is not None:
            scope.receivers.add(info.released)
        if info.db:
            self._db_call(info, line)
        elif info.effect in (K.Effect.RELEASE, K.Effect.END) and info.released is not None:
            if facts is not None:
                facts.ends_tx, facts.tail_ref = True, None
            H.on_release(ctx.held, info.released, info.effect)
        if info.ref is not None and not info.db and ctx.held:
            # A session handed to project code (`get_rows(db_session, ...)`) has been used by it.
            passed = {a.id for a in (*node.args, *(k.value for k in node.keywords)) if isinstance(a, ast.Name)}
            H.on_handed(ctx.held, passed, info.ref)
            if facts is not None and any(ctx.kind_of_name(n) in K.DB_KINDS for n in passed):
                facts.ends_tx, facts.tail_ref = False, info.ref
        if info.io is not None and facts is not None:
            site = f"{info.io.describe()} at line {line}"
            if facts.io is None:
                facts.io = site
            if view is not None and view[0]:
                facts.tx_io.append((site, view[1]))
        if info.ref is not None:
            desc = info.describe(line)
            if facts is not None:
                if id(node) in ctx.dropped:
                    facts.dropped.append(len(facts.calls))
                if view is not None and view[0]:
                    facts.tx_calls.append((len(facts.calls), view[1], H.hands_in(ctx.held, node, len(ctx.scopes))))
                facts.calls.append((info.ref, line))
                if scope.containing:
                    facts.contained.append(line)
            for frame in ctx.try_frames:
                frame.refs.append((info.ref, desc))
