"""The walk's scopes: functions and classes, and what a function's returns and exits tell.

:class:`Scopes` pushes a :class:`Scope` per function (its parameters' kinds, the sessions handed to
it), records its :class:`FunctionFacts` in the module summary when it ends, and records each class's
facts before its body. Its exits say whether the transaction of a session the caller handed it is
left open, and its returns what it hands back (a checkout, a DB kind, a project call's result).
"""

from __future__ import annotations

import ast

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.classes import class_facts
from poolwarden.check.context import FileContext
from poolwarden.check.handlers import says_failed
from poolwarden.check.scope import Hold, Origin, Scope, dotted_text
from poolwarden.check.summary import FunctionFacts
from poolwarden.check.walk.traversal import Traversal


class Scopes(Traversal):
    """Function and class scopes, returns and exits (a mixin of :class:`Walker`)."""

    def _function(self, node: ast.AST) -> None:
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ctx = self.ctx
        for dec in node.decorator_list:
            self.visit(dec)
        args = node.args
        for default in (*args.defaults, *args.kw_defaults):
            if default is not None:
                self.visit(default)
        outer = ctx.function
        if outer.node is None:
            qual = f"{ctx.classes[-1]}.{node.name}" if ctx.classes else node.name
        else:
            qual = f"{outer.qualname}.<locals>.{node.name}"
        facts = FunctionFacts(line=node.lineno, is_async=isinstance(node, ast.AsyncFunctionDef),
                              abstract=_declares_only(node))
        if node.returns is not None:
            returned = ctx.annotation_kind(node.returns)
            if returned is not None and returned in K.DB_KINDS:
                facts.returns_kind = returned.value
        all_args = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if args.vararg:
            all_args.append(args.vararg)
        if args.kwarg:
            all_args.append(args.kwarg)
        names = [a.arg for a in all_args]
        in_class = bool(ctx.classes) and outer.node is None
        is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
        scope = Scope(
            node=node,
            qualname=qual,
            facts=facts,
            class_name=ctx.classes[-1] if in_class else outer.class_name,
            self_name=(names[0] if names and in_class and not is_static else outer.self_name),
            params=frozenset(names),
            decorators=tuple(filter(None, (_decorator_name(ctx, d) for d in node.decorator_list))),
        )
        scope.locals.update(names)
        is_command = facts.command = scope.is_cli_command
        for dec in node.decorator_list:
            ref = ctx.qualname(dec.func if isinstance(dec, ast.Call) else dec)
            if ref is not None and ctx.is_project_ref(ref):
                ctx.summary.decorated.append((ref if ":" in ref else f"{ctx.root}:{ref}", is_command))
            elif ref in K.SIGNAL_RECEIVER_DECORATORS and isinstance(dec, ast.Call) and dec.args:
                signals = dec.args[0].elts if isinstance(dec.args[0], (ast.List, ast.Tuple)) else [dec.args[0]]
                ctx.receives(signals, scope)
        held_before = len(ctx.held)
        ctx.scopes.append(scope)
        for arg in all_args:
            kind = ctx.annotation_kind(arg.annotation)
            if kind is None and arg.annotation is None:
                kind = ctx.hint(arg.arg)
            if kind is not None:
                scope.kinds[arg.arg] = kind
                if kind == K.SESSION:
                    ctx.held.append(H.make(ctx, Hold.SESSION, Origin.PARAMETER, arg.arg, node.lineno, arg.arg,
                                          active=False))
            elif arg.annotation is not None:
                ref = ctx.qualname(arg.annotation)
                if ref is not None and ctx.is_project_ref(ref):
                    scope.types[arg.arg] = ref
        facts_of_class = ctx.class_facts.get(scope.class_name) if scope.self_name and scope.class_name else None
        if facts_of_class is not None and scope.self_name in names:
            for attr, kind in facts_of_class.kinds.items():
                if kind is K.SESSION:  # the object's session: open once the method has used it
                    var = f"{scope.self_name}.{attr}"
                    ctx.held.append(H.make(ctx, Hold.SESSION, Origin.ATTRIBUTE, var, node.lineno, var, active=False))
        facts.handed = len(ctx.held) > held_before  # a session parameter or the object's session
        for dec in node.decorator_list:  # `@transaction.atomic`: the whole body runs in a transaction
            call = dec.func if isinstance(dec, ast.Call) else dec
            target = ctx.qualname(call) or ""
            if K.FUNCTION_EFFECTS.get(target) is K.Effect.TX:
                held = H.make(ctx, Hold.TRANSACTION, Origin.DECORATOR, dotted_text(call), dec.lineno, None)
                held.on_commit = K.ON_COMMIT.get(target)
                ctx.held.append(held)
            elif isinstance(dec, ast.Call) and target and ctx.is_project_ref(target):  # @traced_atomic()
                ref = target if ":" in target else f"{ctx.root}:{target}"
                ctx.held.append(H.maybe_transaction(ctx, Origin.DECORATOR, dotted_text(call), dec.lineno, ref))
        self.body(node.body)
        if facts.handed:
            if not isinstance(node.body[-1], (ast.Return, ast.Raise)):
                self._exit(scope, None)  # falls off its end
            self._exits(scope, facts)
        ctx.last_scope = scope
        ctx.scopes.pop()
        del ctx.held[held_before:]
        ctx.summary.functions[qual] = facts
        if outer.node is not None:
            outer.locals.add(node.name)
            if scope.returned_checkout is not None:
                outer.local_checkouts[node.name] = scope.returned_checkout
            else:
                outer.local_checkouts.pop(node.name, None)

    def _class(self, node: ast.AST) -> None:
        assert isinstance(node, ast.ClassDef)
        ctx = self.ctx
        for dec in node.decorator_list:
            self.visit(dec)
        bases: list[str] = []
        for base in (*node.bases, *(k.value for k in node.keywords)):
            self.visit(base)
            ref = ctx.qualname(base)
            if ref is not None:
                bases.append(ref)
        facts = class_facts(node, ctx)  # the whole class first: methods may come in any order
        ctx.class_facts[node.name] = facts
        if ctx.function.node is None and not ctx.classes:
            ctx.summary.classes[node.name] = tuple(bases)
            for attr, ref in facts.types.items():
                ctx.summary.attr_types[f"{node.name}.{attr}"] = ref
        ctx.classes.append(node.name)
        self.body(node.body)
        ctx.classes.pop()

    def _return(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Return)
        ctx = self.ctx
        if node.value is not None:
            self.visit(node.value)
        facts = ctx.function.facts
        if facts is not None and facts.handed:
            self._exit(ctx.function, node.value)
        if facts is None or node.value is None:
            return
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call):
            info = ctx.call(value)
            if info.effect is K.Effect.ACQUIRE:
                facts.returns_acquired = f"{info.text}() at line {node.lineno}"
                facts.returns_pooled = info.pooled
                ctx.function.returned_checkout = value
            elif info.ref is not None:
                facts.return_refs.append(info.ref)
            if facts.returns_kind is None and info.result is not None and info.result in K.DB_KINDS:
                facts.returns_kind = info.result.value
        elif isinstance(value, ast.Name):
            for acq in ctx.function.acquisitions:
                if acq.var == value.id and acq.method is None and not acq.many:
                    if acq.ref is None:
                        facts.returns_acquired = f"{acq.desc} at line {acq.stmt.lineno}"
                        facts.returns_pooled = acq.pooled
                    else:
                        facts.return_refs.append(acq.ref)

    def _exit(self, scope: Scope, value: ast.expr | None) -> None:
        """The function returns ``value`` here: is the transaction of the session its caller handed
        it open? (What every exit returning a value, else every exit, left: see ``_exits``.)"""
        view = H.caller_view(self.ctx.held, len(self.ctx.scopes))
        if view is not None:
            scope.exits[not _nothing(value)].append(view)

    def _exits(self, scope: Scope, facts: FunctionFacts) -> None:
        """Fold the function's exits into its facts: open if one is, else decided by the functions
        the session was last handed to; the exits returning a result, when there are any (``return
        None``, ``return []``, ``success=False`` there say "nothing done", which its callers test for)."""
        for is_open, after in scope.exits[True] or scope.exits[False]:
            if is_open and after is None:
                facts.tx_exit_open = True
            elif is_open and after is not None and after not in facts.tx_exit_after:
                facts.tx_exit_after.append(after)


def _nothing(value: ast.expr | None) -> bool:
    """A returned value that says "nothing done": none, an empty or false literal (``None``, ``False``,
    ``0``, ``""``, ``[]``, ``set()``), or an answer that says it failed (``success=False``)."""
    if value is None or says_failed(value):
        return True
    if isinstance(value, ast.Constant):
        return not value.value
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return not value.elts
    if isinstance(value, ast.Dict):
        return not value.keys
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in _EMPTY_TYPES
            and not value.args and not value.keywords)


_EMPTY_TYPES = frozenset({"set", "list", "dict", "tuple", "frozenset"})


def _declares_only(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A method that only declares itself: ``@abstractmethod``, or a body of a docstring, ``pass``,
    ``...`` and ``raise NotImplementedError``."""
    if any(dotted_text(d).rpartition(".")[2] == "abstractmethod" for d in node.decorator_list):
        return True
    for stmt in node.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None and \
                dotted_text(stmt.exc).removesuffix("(...)") == "NotImplementedError":
            continue
        return False
    return True


def _decorator_name(ctx: FileContext, dec: ast.expr) -> str | None:
    if isinstance(dec, ast.Call):
        dec = dec.func
    return ctx.qualname(dec) or (dec.attr if isinstance(dec, ast.Attribute) else None)
