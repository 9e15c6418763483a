"""What is held open along control flow: the walk's list of :class:`Held`, and how steps change it.

The walker calls these as it meets statements; they know nothing of any rule:

* :func:`on_statement` — a statement ran on a handle (it opens the session's transaction; a
  commit or rollback ends it);
* :func:`on_release` — a handle was given back or its transaction ended;
* :func:`on_handed` — a session was handed to project code (which used it);
* :func:`on_exit` — a ``with`` block that ends a session's transaction or closes it was left;
* :func:`join_branches` — both branches of an ``if`` were walked from the same state.

It also answers, for a function its caller hands a session, whether the caller's transaction may
still be open at a point (:func:`caller_view`).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.scope import Held, Hold, Origin, dotted_text

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext

_HANDED_IN = (Origin.PARAMETER, Origin.ATTRIBUTE)
State = list[tuple[bool, str | None, bool, str | None]]


def make(ctx: FileContext, hold: Hold, origin: Origin, callee: str, line: int, var: str | None,
         active: bool = True) -> Held:
    """A held item of the function being walked (a nested function does not run inside it).

    A session handed in by the caller (a parameter, the object's session) is ``outer``: the
    caller's transaction may be open on it until this function ends it.
    """
    return Held(hold, origin, callee, line, var, active=active, depth=len(ctx.scopes),
                outer=origin in _HANDED_IN)


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
        held = make(ctx, Hold.TRANSACTION, Origin.WITH, info.text, expr.lineno, var)
        held.on_commit = K.ON_COMMIT.get(info.target or "")
        return held
    if info.effect in (K.Effect.HOLD, K.Effect.ACQUIRE) and not autocommit(expr):
        return make(ctx, Hold.CONNECTION, Origin.WITH, info.text, expr.lineno, var)
    if info.effect is K.Effect.LAZY:
        return make(ctx, Hold.SESSION, Origin.WITH, info.text, expr.lineno, var, active=False)
    if info.effect is None and info.ref is not None and var is not None:
        kind = ctx.hint(var)  # `with get_session() as session:` — a project helper handing out a handle
        if kind in K.HELD_HINTS:
            hold = Hold.SESSION if kind is K.SESSION else Hold.CONNECTION
            return make(ctx, hold, Origin.WITH, info.text, expr.lineno, var, active=hold is not Hold.SESSION)
    if info.effect is None and info.ref is not None and not info.db:
        return maybe_transaction(ctx, Origin.WITH, info.text, expr.lineno, info.ref)
    return None


def maybe_transaction(ctx: FileContext, origin: Origin, callee: str, line: int, ref: str) -> Held:
    """``with helper():`` / ``@helper()`` of a project context manager: a transaction, if the index
    finds the helper's ``yield`` inside one."""
    held = make(ctx, Hold.TRANSACTION, origin, callee, line, None)
    held.maybe = ref
    return held


def on_row_lock(held: list[Held], site: str) -> None:
    """Rows locked (``select_for_update()`` at ``site``): the innermost open transaction keeps them."""
    for item in reversed(held):
        if item.hold is Hold.TRANSACTION:
            if item.row_lock is None:
                item.row_lock = site
            return


def snapshot(held: list[Held]) -> State:
    """Each held item's (active, last_call, outer, outer_after), to restore a branch's starting point."""
    return [(h.active, h.last_call, h.outer, h.outer_after) for h in held]


def restore(held: list[Held], items: list[Held], state: State) -> None:
    """Put ``held`` back to ``items`` with ``state`` (from :func:`snapshot`)."""
    held[:] = items
    for item, (active, last_call, outer, outer_after) in zip(items, state, strict=True):
        item.active, item.last_call, item.outer, item.outer_after = active, last_call, outer, outer_after


def on_statement(held: list[Held], receiver: str | None, effect: K.Effect | None) -> None:
    """A DB call on ``receiver``: its session is in a transaction, unless the call ended it."""
    if receiver is None:
        return
    for item in held:
        if item.var == receiver:
            item.active = effect is not K.Effect.END
            item.last_call = item.outer_after = None
            item.outer = effect is not K.Effect.END


def on_release(held: list[Held], released: str, effect: K.Effect) -> None:
    """``released`` was closed or given back (RELEASE), or its transaction ended (END)."""
    for i in range(len(held) - 1, -1, -1):
        item = held[i]
        if item.var == released:
            if item.hold is Hold.SESSION:
                item.active = item.outer = False  # a closed session opens a new connection when used again
                item.outer_after = None
            elif effect is K.Effect.RELEASE:
                del held[i]
            return


def on_handed(held: list[Held], passed: set[str], ref: str) -> None:
    """Sessions named in ``passed`` were handed to the project function ``ref``, which used them."""
    for item in held:
        if item.hold is Hold.SESSION and item.var in passed:
            item.active = item.outer = True
            item.last_call = item.outer_after = ref


def on_exit(ctx: FileContext, held: list[Held], expr: ast.expr) -> None:
    """The ``with expr:`` block was left: ``with session.begin():`` ended the session's transaction
    (commit, or rollback on error), ``with closing(session):`` closed it. Nothing else changes."""
    if not isinstance(expr, ast.Call):
        return
    func = expr.func
    if ctx.qualname(func) in K.CLOSING_CONTEXTS and expr.args:
        var = dotted_text(expr.args[0])
    elif isinstance(func, ast.Attribute) and (ctx.kind_of(func.value), func.attr) in K.ENDS_AT_EXIT:
        var = dotted_text(func.value)
    else:
        return
    for item in held:
        if item.var == var and item.hold is Hold.SESSION:
            item.active = item.outer = False
            item.last_call = item.outer_after = None


def caller_view(held: list[Held], depth: int) -> tuple[bool, str | None] | None:
    """For a function handed a session by its caller: may the caller's transaction be open here?

    ``None``: the function was handed none. ``(True, None)``: open. ``(True, ref)``: open unless the
    project function ``ref``, the session's last user, ends it (decided with the project index).
    ``(False, None)``: this function ended it (committed, rolled back or closed) on every path here.
    """
    after: str | None = None
    found = False
    for item in held:
        if item.depth != depth or item.origin not in _HANDED_IN:
            continue
        found = True
        if item.outer:
            if item.outer_after is None:
                return True, None
            after = after or item.outer_after
    if not found:
        return None
    return (True, after) if after is not None else (False, None)


def passes(call: ast.Call, var: str | None) -> bool:
    """Whether ``call`` hands on the handle named ``var`` (``f(db_session)``, ``f(session=self.session)``):
    the callee may then end its transaction before doing I/O."""
    return var is not None and any(
        isinstance(a, (ast.Name, ast.Attribute)) and dotted_text(a) == var
        for a in (*call.args, *(k.value for k in call.keywords)))


def hands_in(held: list[Held], call: ast.Call, depth: int) -> bool:
    """Whether ``call`` passes on a session this function was handed by its caller."""
    return any(item.depth == depth and item.origin in _HANDED_IN and passes(call, item.var) for item in held)


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
        active, last_call, outer, outer_after = states[id(item)]
        if id(item) not in in_else or (outer and not item.outer):
            item.outer, item.outer_after = outer, outer_after
        elif outer and item.outer_after != outer_after:
            item.outer_after = None  # the caller's transaction: open if either branch left it so
        if id(item) not in in_else or (active and not item.active):
            item.active, item.last_call = active, last_call  # only the if branch has it, or left it open
        elif active and item.last_call != last_call:
            item.last_call = None  # a branch used it directly: open whatever the callee did
    held[:] = merged
