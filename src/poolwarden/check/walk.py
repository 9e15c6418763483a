"""The one AST pass over a file: keeps scopes and held connections, dispatches to rules.

Rules declare the node types they want (``Rule.NODES``); :class:`Walker` calls
``rule.visit(node, ctx)`` before a node's children and ``rule.leave(node, ctx)`` after them.
Every node is visited once; the walk also fills the module's :class:`ModuleSummary`.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.args import string_value
from poolwarden.check.classes import class_facts, looks_like_class, project_type
from poolwarden.check.context import FileContext
from poolwarden.check.handlers import keeps_every_error, says_failed
from poolwarden.check.rule import Rule
from poolwarden.check.scope import Acquisition, CallInfo, Held, Hold, Origin, Scope, TryFrame
from poolwarden.check.summary import FunctionFacts

_AST = ast.AST
_HANDLE_METHODS = K.DB_METHODS | K.CLEANUP_METHODS | K.HANDLE_METHODS


_LEAVES = (ast.Constant, ast.Pass, ast.Break, ast.Continue)
_NOT_WALKED = frozenset({"ctx", "op", "ops", "type_ignores"})  # Load/Store, operators: no facts in them


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node_type: type) -> tuple[str, ...]:
    """The fields of ``node_type`` worth walking into (memoised per type)."""
    found = _FIELDS.get(node_type)
    if found is None:
        found = _FIELDS[node_type] = tuple(f for f in node_type._fields if f not in _NOT_WALKED)  # type: ignore[attr-defined]
    return found


class Walker:
    """Walks one module tree once for a set of rules."""

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
        self.special = {
            ast.FunctionDef: self._function,
            ast.AsyncFunctionDef: self._function,
            ast.ClassDef: self._class,
            ast.With: self._with,
            ast.AsyncWith: self._with,
            ast.Try: self._try,
            ast.If: self._if,
            ast.Assign: self._assign,
            ast.AnnAssign: self._assign,
            ast.Call: self._call,
            ast.Await: self._await,
            ast.Expr: self._expr,
            ast.Return: self._return,
            ast.Global: self._global,
            ast.Nonlocal: self._global,
            ast.Import: self._import,
            ast.Name: self._name,
            ast.ImportFrom: self._import,
        }
        try_star = getattr(ast, "TryStar", None)
        if try_star is not None:
            self.special[try_star] = self._try
        # Leaves no rule and no handler looks at: a literal, `pass`, `break` (contexts and operators
        # are never visited: see _fields).
        self.inert = frozenset(t for t in _LEAVES if t not in self.visits and t not in self.leaves)

    # -- entry ------------------------------------------------------------------------------------
    def run(self, tree: ast.Module) -> None:
        ctx = self.ctx
        self._prescan_module(tree)
        self.visit(tree)
        ctx.rule = None

    def _prescan_module(self, tree: ast.Module) -> None:
        """Module-level names and imports are known before any function body is walked."""
        ctx = self.ctx
        for stmt in tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self._import(stmt)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ctx.module_defs.add(stmt.name)
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.returns is not None:
                kind = ctx.annotation_kind(stmt.returns)
                if kind is not None:
                    ctx.return_kinds[stmt.name] = kind
        ctx.db_aware = ctx.db_near or any(
            t.partition(".")[0] in K.DB_MODULES or K.DB_MODULE_HINT.search(t) is not None
            for t in ctx.imports.values()
            if ctx.is_project_ref(t) or t.partition(".")[0] in K.DB_MODULES
        )
        # Module-level handles (`engine = create_engine(...)`) are known to functions written above them.
        for stmt in tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id not in ctx.module_kinds:
                    kind = ctx.kind_of(stmt.value)
                    if kind is None and isinstance(stmt, ast.AnnAssign):
                        kind = ctx.annotation_kind(stmt.annotation)
                    if kind is not None:
                        ctx.module_kinds[targets[0].id] = kind

    # -- generic traversal --------------------------------------------------------------------------
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

    # -- scopes ---------------------------------------------------------------------------------------
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
        facts = FunctionFacts(line=node.lineno, is_async=isinstance(node, ast.AsyncFunctionDef))
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

    def _module_instance(self, name: str, node: ast.Assign | ast.AnnAssign, call: ast.expr | None) -> None:
        """``app: ForgeApp`` / ``repo = UserRepo()`` at module level: the project class of the object.

        A declared type wins over what is assigned (``app = AppHolder()`` under the ``else`` of a
        ``TYPE_CHECKING`` block that declares ``app: ForgeApp``).
        """
        ctx = self.ctx
        instances = ctx.summary.instances
        if isinstance(node, ast.AnnAssign):
            ref = project_type(node.annotation, ctx)
            if ref is not None:
                instances[name] = ref
                ctx.declared.add(name)
                return
        if name in ctx.declared:
            return
        ref = None
        if isinstance(call, ast.Call) and looks_like_class(call.func):
            ref = ctx.qualname(call.func)
        if ref is not None and ctx.is_project_ref(ref):
            instances[name] = ref
        else:
            instances.pop(name, None)

    # -- statements ---------------------------------------------------------------------------------
    def _import(self, node: ast.AST) -> None:
        ctx = self.ctx
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    ctx.imports[alias.asname] = alias.name
                else:
                    root = alias.name.partition(".")[0]
                    ctx.imports.setdefault(root, root)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = ctx.package
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}".strip(".") if base else pkg
            for alias in node.names:
                if alias.name == "*":
                    if base and not ctx.function.node:
                        ctx.summary.star_imports.append(base)
                    continue
                ctx.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name

    def _name(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Name)
        if type(node.ctx) is ast.Store:
            self.ctx.function.locals.add(node.id)

    def _global(self, node: ast.AST) -> None:
        assert isinstance(node, (ast.Global, ast.Nonlocal))
        self.ctx.function.globals.update(node.names)

    def _assign(self, node: ast.AST) -> None:
        assert isinstance(node, (ast.Assign, ast.AnnAssign))
        ctx = self.ctx
        value = node.value
        if value is not None:
            self.visit(value)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            self.visit(target)
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            return
        name = targets[0].id
        scope = ctx.function
        kind = ctx.kind_of(value) if value is not None else None
        if kind is None and isinstance(node, ast.AnnAssign):
            kind = ctx.annotation_kind(node.annotation)
        call = value.value if isinstance(value, ast.Await) else value
        many = False
        if isinstance(call, (ast.ListComp, ast.SetComp, ast.DictComp)):  # [engine.connect() for _ in ...]
            item = call.value if isinstance(call, ast.DictComp) else call.elt
            item = item.value if isinstance(item, ast.Await) else item
            if isinstance(item, ast.Call):
                call, many = item, True
        if scope.node is None:
            if kind is not None:
                ctx.module_kinds[name] = kind
            text = string_value(value, ctx) if value is not None else None
            if text is not None:
                ctx.constants[name] = text
            if isinstance(value, (ast.Name, ast.Attribute)):
                ref = ctx.qualname(value)
                if ref is not None:
                    ctx.summary.aliases[name] = ref
            self._module_instance(name, node, None if many else call)  # a list of objects has no one class
            return
        if kind is not None and not many:
            scope.kinds[name] = kind
        elif name in scope.kinds and name not in scope.globals:
            del scope.kinds[name]
        scope.made_by.pop(name, None)
        if kind is None and isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) \
                and value.value.id == scope.self_name and ctx.hint(name) is None:
            ref = ctx.qualname(value)  # `manager = self.manager`: the local is the attribute
            if ref is not None:
                scope.types[name] = ref
        if isinstance(call, ast.Call):
            info = ctx.call(call)
            if many:
                self._many(name, node, call, info)
                return
            if info.ref is not None and info.result is None and looks_like_class(call.func):
                scope.types[name] = info.ref
            checkout = info.effect in (K.Effect.ACQUIRE, K.Effect.LAZY) or (
                info.effect is K.Effect.HOLD and info.target in K.ASSIGNED_CHECKOUTS)
            if checkout or (info.ref is not None and info.result is None):
                pooled = info.pooled
                desc = f"{info.text}()"
                scope.acquisitions.append(
                    Acquisition(name, node, call, desc, pooled,
                                ref=info.ref if info.effect is None else None, lazy=info.effect is K.Effect.LAZY)
                )
                if info.effect is None and info.ref is not None:
                    scope.made_by[name] = info.ref
                if info.effect in (K.Effect.ACQUIRE, K.Effect.HOLD) and not H.autocommit(call):
                    ctx.held.append(H.make(ctx, Hold.CONNECTION, Origin.ASSIGNED, info.text, node.lineno, name))
                elif info.effect is K.Effect.LAZY:
                    ctx.held.append(H.make(ctx, Hold.SESSION, Origin.ASSIGNED, info.text, node.lineno, name,
                                          active=False))
            else:
                made = _made_checkout(scope, call, info)
                if made is not None:
                    scope.acquisitions.append(Acquisition(name, node, call, f"{info.text}()", False, ref=made[0],
                                                          method=made[1]))
                inner = _local_checkout(scope, call, info)
                if inner is not None:  # the nested function's checkout, anchored where it is made
                    inner_info = ctx.call(inner)
                    scope.acquisitions.append(Acquisition(name, node, inner, f"{inner_info.text}()",
                                                          inner_info.pooled))

    def _many(self, name: str, node: ast.stmt, call: ast.Call, info: CallInfo) -> None:
        """``name = [<checkout> for ...]``: one checkout per item, all the function's to release."""
        scope = self.ctx.function
        checkout = info.effect is K.Effect.ACQUIRE or (
            info.effect is K.Effect.HOLD and info.target in K.ASSIGNED_CHECKOUTS)
        made = None if checkout else _made_checkout(scope, call, info)
        if checkout or made is not None:
            scope.acquisitions.append(Acquisition(
                name, node, call, f"{info.text}()", info.pooled, ref=made[0] if made else None,
                method=made[1] if made else None, many=True))

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

    # -- expressions --------------------------------------------------------------------------------
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

    def _call(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Call)
        ctx = self.ctx
        self.children(node)
        info = ctx.call(node)
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


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"``: the block runs only when the module is run as a script."""
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


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


def _ends_flow(block: list[ast.stmt]) -> bool:
    """The block never carries on to the statement after it (it returns, raises, breaks or continues)."""
    return bool(block) and isinstance(block[-1], (ast.Return, ast.Raise, ast.Break, ast.Continue))


def _made_checkout(scope: Scope, call: ast.Call, info: CallInfo) -> tuple[str, str] | None:
    """``engine.connect()`` where ``engine = get_engine()``: (the helper's ref, the method), to be
    decided by the kind the helper returns; None when the call is something else."""
    func = call.func
    if info.effect is not None or info.ref is not None or not isinstance(func, ast.Attribute):
        return None
    recv = func.value
    if func.attr not in K.CHECKOUT_METHODS or not isinstance(recv, ast.Name) or recv.id not in scope.made_by:
        return None
    return scope.made_by[recv.id], func.attr


def _local_checkout(scope: Scope, call: ast.Call, info: CallInfo) -> ast.Call | None:
    """``open_conn()`` / ``asyncio.run(open_conn())`` where the nested ``open_conn`` returns a checkout."""
    func = call.func
    runs = info.target in K.RUN_COROUTINE_FUNCTIONS or (
        isinstance(func, ast.Attribute) and func.attr in K.RUN_COROUTINE_METHODS)
    if runs and call.args and isinstance(call.args[0], ast.Call):
        call = call.args[0]
        func = call.func
    if isinstance(func, ast.Name) and func.id in scope.local_checkouts:
        return scope.local_checkouts[func.id]
    return None


def _decorator_name(ctx: FileContext, dec: ast.expr) -> str | None:
    if isinstance(dec, ast.Call):
        dec = dec.func
    return ctx.qualname(dec) or (dec.attr if isinstance(dec, ast.Attribute) else None)
