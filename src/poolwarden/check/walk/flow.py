"""Control flow of the walk: ``with``, ``if`` and ``try`` blocks and what is held along them.

:class:`Flow` opens what a ``with`` holds for its body and closes it after; walks each branch of an
``if`` and each handler of a ``try`` from the state before it and joins what they leave open; keeps
the ``try`` frames that collect the DB calls and project calls of a ``try`` body.
"""

from __future__ import annotations

import ast

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.handlers import keeps_every_error
from poolwarden.check.scope import Held, Hold, Origin, TryFrame
from poolwarden.check.walk.traversal import Traversal


class Flow(Traversal):
    """``with``, ``if`` and ``try`` (a mixin of :class:`Walker`)."""

    def _with(self, node: ast.AST) -> None:
        assert isinstance(node, (ast.With, ast.AsyncWith))
        ctx = self.ctx
        pushed: list[Held] = []
        for item in node.items:
            expr = item.context_expr
            before, state = list(ctx.held), H.snapshot(ctx.held)
            self.visit(expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
            var = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else None
            kind = ctx.kind_of(expr)
            held = H.for_with(ctx, expr, var)
            if held is not None and held.hold is Hold.SESSION and held.origin is Origin.WITH and not held.active:
                # `with session_or_new(db_session) as db_session:` — a helper that hands out a session
                # passes on the one it is given; it runs nothing on it
                H.restore(ctx.held, before, state)
            if var is not None:
                if kind is None and held is not None:
                    kind = K.SESSION if held.hold is Hold.SESSION else K.CONNECTION
                if kind is not None:
                    ctx.function.kinds[var] = kind
            if held is not None:
                ctx.held.append(held)
                pushed.append(held)
        self.body(node.body)
        for item in node.items:
            H.on_exit(ctx, ctx.held, item.context_expr)
        if pushed:  # by identity: an `if` inside may have reordered what is held
            ctx.held[:] = [h for h in ctx.held if all(h is not p for p in pushed)]

    def _if(self, any_node: ast.AST) -> None:
        """Each branch starts from the state before the ``if``; after it, what either branch left
        open may be open (a statement in the ``if`` branch does not open the ``else`` branch's session)."""
        node: ast.If = any_node  # type: ignore[assignment]
        ctx = self.ctx
        main = ctx.function.node is None and _is_main_guard(node.test)
        ctx.main_guard += main
        held = ctx.held
        self.visit(node.test)
        before, state = list(held), H.snapshot(held)
        self.body(node.body)
        after_body, body_state = list(held), H.snapshot(held)
        H.restore(held, before, state)
        self.body(node.orelse)
        H.join_branches(before, after_body, body_state, held)
        ctx.main_guard -= main

    def _try(self, any_node: ast.AST) -> None:
        node: ast.Try = any_node  # type: ignore[assignment]  # ast.Try or ast.TryStar: same fields
        ctx = self.ctx
        frame = TryFrame()
        ctx.try_frames.append(frame)
        contains = any(keeps_every_error(h) for h in node.handlers)
        scope = ctx.function
        held = ctx.held
        scope.containing += contains
        self.body(node.body)
        scope.containing -= contains
        ctx.try_frames.pop()
        ctx.frames_by_node[id(node)] = frame
        after_body, body_state = list(held), H.snapshot(held)
        # What is held after the statement: what the body (and `else`) left, joined with what each
        # handler that carries on after it left; a handler starts from what the body left.
        outcomes: list[tuple[list[Held], H.State]] = []
        for handler in node.handlers:
            H.restore(held, after_body, body_state)
            self.visit(handler)
            if not _ends_flow(handler.body):
                outcomes.append((list(held), H.snapshot(held)))
        H.restore(held, after_body, body_state)
        self.body(node.orelse)
        for items, items_state in outcomes:
            H.join_branches(after_body, items, items_state, held)
        self.body(node.finalbody)


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"``: the block runs only when the module is run as a script."""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _ends_flow(block: list[ast.stmt]) -> bool:
    """The block never carries on to the statement after it (it returns, raises, breaks or continues)."""
    return bool(block) and isinstance(block[-1], (ast.Return, ast.Raise, ast.Break, ast.Continue))
