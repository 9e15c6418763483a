"""What names hold: imports, assignments, globals, and the objects a module makes.

:class:`Names` records imports (also before any function body: see the walker's prescan), the kind
of each assigned name, the project class of a module-level instance, and the acquisitions a function
makes by assigning a checkout (one per item for a comprehension of checkouts).
"""

from __future__ import annotations

import ast

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.args import string_value
from poolwarden.check.classes import looks_like_class, project_type
from poolwarden.check.scope import Acquisition, CallInfo, Hold, Origin, Scope
from poolwarden.check.walk.traversal import Traversal


class Names(Traversal):
    """Imports and assignments (a mixin of :class:`Walker`)."""

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
        text = string_value(value, ctx) if isinstance(value, (ast.Constant, ast.JoinedStr, ast.BinOp)) else None
        if text is not None:
            scope.strings[name] = text  # the SQL a later `cursor.execute(sql)` sends (check.sql)
        else:
            scope.strings.pop(name, None)
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
