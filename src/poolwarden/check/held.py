"""What is held open along control flow: the walk's list of :class:`Held`, and how steps change it.

The walker calls these as it meets statements; they know nothing of any rule:

* :func:`on_statement` — a statement ran on a handle (it opens the session's transaction; a
  commit or rollback ends it);
* :func:`on_release` — a handle was given back or its transaction ended;
* :func:`on_handed` — a session was handed to project code (which used it);
* :func:`join_branches` — both branches of an ``if`` were walked from the same state.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.scope import Held, Hold, Origin

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext

State = list[tuple[bool, str | None]]


def make(ctx: FileContext, hold: Hold, origin: Origin, callee: str, line: int, var: str | None,
         active: bool = True) -> Held:
    """A held item of the function being walked (a nested function does not run inside it)."""
    return Held(hold, origin, callee, line, var, active=active, depth=len(ctx.scopes))


def autocommit(call: ast.Call) -> bool:
    """A dedicated connection opened with a literal ``autocommit=True``: it never sits in a transaction."""
    return any(kw.arg == "autocommit" and isinstance(kw.value, ast.Constant) and kw.value.value is True
               for kw in call.keywords)


def for_with(ctx: FileContext, expr: ast.expr, var: str | None) -> Held | None:
    """What ``with expr as var:`` holds for its body, if anything."""
    if isinstance(expr, ast.Name):
        return (make(ctx, Hold.TRANSACTION, Origin.WITH_NAME, expr.id, expr.lineno, expr.id)
                if ctx.kind_of(expr) is K.CONNECTION else None)  # `with conn:` is a transaction
    if not isinstance(expr, ast.Call):
        return None
    info = ctx.call(expr)
    if info.effect is K.Effect.TX:
        return make(ctx, Hold.TRANSACTION, Origin.WITH, info.text, expr.lineno, var)
    if info.effect in (K.Effect.HOLD, K.Effect.ACQUIRE) and not autocommit(expr):
        return make(ctx, Hold.CONNECTION, Origin.WITH, info.text, expr.lineno, var)
    if info.effect is K.Effect.LAZY:
        return make(ctx, Hold.SESSION, Origin.WITH, info.text, expr.lineno, var, active=False)
    if info.effect is None and info.ref is not None and var is not None:
        kind = ctx.hint(var)  # `with get_session() as session:` — a project helper handing out a handle
        if kind in K.HELD_HINTS:
            hold = Hold.SESSION if kind is K.SESSION else Hold.CONNECTION
            return make(ctx, hold, Origin.WITH, info.text, expr.lineno, var, active=hold is not Hold.SESSION)
    return None


def snapshot(held: list[Held]) -> State:
    """Each held item's (active, last_call), to restore a branch's starting point."""
    return [(h.active, h.last_call) for h in held]


def restore(held: list[Held], items: list[Held], state: State) -> None:
    """Put ``held`` back to ``items`` with ``state`` (from :func:`snapshot`)."""
    held[:] = items
    for item, (active, last_call) in zip(items, state, strict=True):
        item.active, item.last_call = active, last_call


def on_statement(held: list[Held], receiver: str | None, effect: K.Effect | None) -> None:
    """A DB call on ``receiver``: its session is in a transaction, unless the call ended it."""
    if receiver is None:
        return
    for item in held:
        if item.var == receiver:
            item.active = effect is not K.Effect.END
            item.last_call = None


def on_release(held: list[Held], released: str, effect: K.Effect) -> None:
    """``released`` was closed or given back (RELEASE), or its transaction ended (END)."""
    for i in range(len(held) - 1, -1, -1):
        item = held[i]
        if item.var == released:
            if item.hold is Hold.SESSION:
                item.active = False  # a closed session opens a new connection when used again
            elif effect is K.Effect.RELEASE:
                del held[i]
            return


def on_handed(held: list[Held], passed: set[str], ref: str) -> None:
    """Sessions named in ``passed`` were handed to the project function ``ref``, which used them."""
    for item in held:
        if item.hold is Hold.SESSION and item.var in passed:
            item.active = True
            item.last_call = ref


def join_branches(before: list[Held], after_body: list[Held], body_state: State, held: list[Held]) -> None:
    """After an ``if``: ``held`` holds the else branch's outcome; join the if branch's into it.

    What either branch left open may be open: an item released in both branches is gone, one that
    a branch left active is active (with the callee it was last handed to, when both agree).
    """
    states = {id(h): s for h, s in zip(after_body, body_state, strict=True)}
    in_else = {id(h) for h in held}
    merged = [h for h in before if id(h) in states or id(h) in in_else]
    seen = {id(h) for h in merged}
    for item in (*after_body, *held):
        if id(item) not in seen:
            seen.add(id(item))
            merged.append(item)
    for item in merged:
        if id(item) not in states:
            continue  # only the else branch has it: its state stands
        active, last_call = states[id(item)]
        if id(item) not in in_else or (active and not item.active):
            item.active, item.last_call = active, last_call  # only the if branch has it, or left it open
        elif active and item.last_call != last_call:
            item.last_call = None  # a branch used it directly: open whatever the callee did
    held[:] = merged
