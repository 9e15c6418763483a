"""The state a rule sees while the file is walked: scopes, kinds of values, held connections.

:class:`FileContext` is filled by the one AST pass of a file (:class:`poolwarden.check.walk.Walker`)
and answers the questions rules ask about the node being visited:

* :meth:`FileContext.call` — what a call does (DB operation, I/O, acquisition, release, …);
* :meth:`FileContext.kind_of` — what kind of value an expression holds (engine, session, …);
* :attr:`FileContext.held` — the transactions and checked-out connections open right now;
* :attr:`FileContext.function` — the enclosing function scope and its facts.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.classes import ClassFacts
from poolwarden.check.finding import Deferred, Finding, Pending, Severity, Span
from poolwarden.check.orm import evaluator_call, is_model_class, manager_call, manager_rooted, orm_call
from poolwarden.check.scope import CallInfo, Held, IoCall, Scope, TryFrame, dotted_text
from poolwarden.check.summary import ModuleSummary

if TYPE_CHECKING:
    from poolwarden.check.rule import Rule

STDLIB_ROOTS = frozenset(getattr(__import__("sys"), "stdlib_module_names", ())) | {"builtins"}
_LIBRARY_ROOTS = STDLIB_ROOTS | K.DB_MODULES | K.THIRD_PARTY_ROOTS


class FileContext:
    """Everything rules may ask while one file is walked; kept up to date by the Walker."""

    def __init__(self, path: str, module: str, is_package: bool, root: str = "") -> None:
        self.path = path
        self.module = module
        self.root = root
        self.package = module if is_package else module.rpartition(".")[0]
        self.summary = ModuleSummary(module=module, path=path, root=root)
        self.imports = self.summary.imports
        self.module_kinds: dict[str, K.Kind] = {}
        self.constants: dict[str, str] = {}
        self.declared: set[str] = set()  # module-level names with a declared project type (``app: App``)
        self.return_kinds: dict[str, K.Kind] = {}  # module-level function -> kind its annotation returns
        self.module_defs: set[str] = set()
        self.db_aware = False  # imports a driver or ORM, or a project module that does (db_near)
        self.db_near = False  # imports a project module that is DB code (decided by the pre-scan)
        self.scopes: list[Scope] = [Scope(node=None, qualname="", facts=None)]
        self.classes: list[str] = []
        self.class_facts: dict[str, ClassFacts] = {}  # class name -> what its attributes hold
        self.held: list[Held] = []
        self.try_frames: list[TryFrame] = []
        self.frames_by_node: dict[int, TryFrame] = {}
        self.calls: dict[int, CallInfo] = {}
        self.findings: list[Finding] = []
        self.pendings: list[Pending] = []
        self.rule: Rule | None = None
        self.awaited: set[int] = set()
        self.dropped: set[int] = set()  # calls whose result is dropped (a call as a statement)
        self.last_scope: Scope | None = None  # the function scope just left (for Rule.leave)
        self.main_guard = 0  # inside the module's `if __name__ == "__main__":` block: a script run by hand
        name = path.replace("\\", "/").rpartition("/")[2]
        # Test modules: rules about production behaviour (PW101-PW104, PW107) stay quiet there. A module in a
        # `tests` package (by its dotted name: root-relative, so a checkout under /home/me/test/ is no test).
        self.is_test = name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" \
            or any(part in K.TEST_PACKAGES for part in module.split(".")[: None if is_package else -1])

    # -- reporting ----------------------------------------------------------------------------
    def report(
        self, node: ast.AST, message: str, span: Span | None = None, severity: Severity | None = None
    ) -> None:
        """Report a finding of the rule being run, anchored on ``node`` (or ``span``)."""
        assert self.rule is not None
        span = span or Span.of(node)
        self.findings.append(
            Finding(
                path=self.path, line=span.line, col=span.col, code=self.rule.CODE,
                end_line=span.end_line, end_col=span.end_col, name=self.rule.NAME,
                message=message, severity=severity or self.rule.SEVERITY,
            )
        )

    def defer(
        self, node: ast.AST, data: Deferred, span: Span | None = None, severity: Severity | None = None
    ) -> None:
        """Leave a possible finding for :meth:`Rule.resolve`, once the project index exists."""
        assert self.rule is not None and isinstance(data, self.rule.DEFERRED or ())
        self.pendings.append(Pending(self.rule.CODE, span or Span.of(node), data, severity))

    def holding(self, definite: bool = False) -> Held | None:
        """The innermost transaction or connection held at this point of the current function; with
        ``definite``, the innermost known to be one (not a project context manager the index decides)."""
        depth = len(self.scopes)
        for held in reversed(self.held):
            if held.depth == depth and held.active and not (definite and held.maybe is not None):
                return held
        return None

    # -- scopes -----------------------------------------------------------------------------
    @property
    def function(self) -> Scope:
        """The innermost scope (the module scope has ``node is None``)."""
        return self.scopes[-1]

    def in_view(self) -> bool:
        """The function being walked is a Django / DRF view: its module imports the framework, its first
        parameter (after ``self``) is the request, and it does not opt out of ``ATOMIC_REQUESTS``."""
        scope = self.scopes[-1]
        if scope.view is None:
            scope.view = self._is_view(scope)
        return scope.view

    def _is_view(self, scope: Scope) -> bool:
        func = scope.node
        if func is None or not any(t.partition(".")[0] in K.VIEW_FRAMEWORK_ROOTS for t in self.imports.values()):
            return False
        params = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
        if scope.self_name is not None and params and params[0] == scope.self_name:
            params = params[1:]
        if not params or params[0] != K.VIEW_REQUEST_PARAM:
            return False
        return not any(self.qualname(d.func if isinstance(d, ast.Call) else d) in K.NON_ATOMIC_VIEW_DECORATORS
                       for d in func.decorator_list)

    def function_ref(self, scope: Scope | None = None) -> str:
        """The project ref of the function being walked, or of ``scope``'s (``root:pkg.mod.Class.method``),
        as callers' calls resolve to it; "" at module level and for a nested function (no one calls it by
        name)."""
        qual = (scope or self.scopes[-1]).qualname
        if not qual or "<locals>" in qual:
            return ""
        return f"{self.root}:{self.module}.{qual}" if self.module else f"{self.root}:{qual}"

    def receives(self, signals: list[ast.expr], scope: Scope) -> None:
        """``scope``'s function receives ``signals`` (``@receiver(sig)``, ``sig.connect(f)``)."""
        func = self.function_ref(scope)
        if not func:
            return
        for signal in signals:
            ref = self.global_ref(signal)
            if ref is not None:
                self.summary.receivers.append((ref, func))

    def global_ref(self, expr: ast.expr) -> str | None:
        """The project ref (``root:dotted``) of a module-level object ``expr`` names, also one this
        module assigns (``doc_published = Signal()``); a library's signal keeps its dotted name
        (``django.db.models.signals.post_save``); None for anything else."""
        ref = self.qualname(expr)
        if ref is None and isinstance(expr, ast.Name) and not any(
                expr.id in s.locals for s in self.scopes if s.node is not None):
            ref = f"{self.module}.{expr.id}" if self.module else expr.id
        if ref is None or not self.is_project_ref(ref):
            return ref if ref is not None and ref.partition(".")[0] in K.SIGNAL_LIBRARY_ROOTS else None
        return ref if ":" in ref else f"{self.root}:{ref}"

    @property
    def in_function(self) -> bool:
        return self.scopes[-1].node is not None

    def frame_of(self, node: ast.Try) -> TryFrame | None:
        """DB operations and project calls seen in the body of ``node`` (after it was walked)."""
        return self.frames_by_node.get(id(node))

    # -- names --------------------------------------------------------------------------------
    def qualname(self, expr: ast.expr) -> str | None:
        """The dotted name ``expr`` refers to, resolved through imports, or None."""
        if isinstance(expr, ast.Name):
            name = expr.id
            for scope in reversed(self.scopes):
                if scope.node is None:
                    break
                if name in scope.locals and name not in scope.globals:
                    return scope.types.get(name)
            target = self.imports.get(name) or self.summary.aliases.get(name)
            if target is not None:
                return target
            if name in self.module_defs:
                return f"{self.module}.{name}" if self.module else name
            return None
        if isinstance(expr, ast.Attribute):
            value = expr.value
            scope = self.scopes[-1]
            if (
                isinstance(value, ast.Name) and value.id == scope.self_name
                and scope.class_name is not None
            ):
                facts = self.class_facts.get(scope.class_name)
                typed = facts.types.get(expr.attr) if facts is not None else None
                return typed if typed is not None else f"{self.module}.{scope.class_name}.{expr.attr}"
            base = self.qualname(value)
            return None if base is None else f"{base}.{expr.attr}"
        return None

    def is_project_ref(self, dotted: str) -> bool:
        return dotted.partition(".")[0] not in _LIBRARY_ROOTS

    # -- kinds ----------------------------------------------------------------------------------
    def kind_of(self, expr: ast.expr) -> K.Kind | None:
        """The kind of value ``expr`` holds (see :mod:`knowledge`), or None when unknown."""
        if isinstance(expr, ast.Name):
            name = expr.id
            for scope in reversed(self.scopes):
                if scope.node is None:
                    break
                kind = scope.kinds.get(name)
                if kind is not None:
                    return kind
                if name in scope.locals and name not in scope.globals:
                    return self.hint(name) if name not in scope.types else None
            kind = self.module_kinds.get(name)
            if kind is not None:
                return kind
            library = K.LIBRARY_HANDLES.get(self.imports.get(name, ""))
            if library is not None:
                return library
            if name in self.imports:
                return self.hint(name) if self._imported_from_project(name) else None
            return self.hint(name)
        if isinstance(expr, ast.Attribute):
            attr_kind = self._self_attribute(expr)
            if attr_kind is not None:
                return attr_kind if isinstance(attr_kind, K.Kind) else None
            base = self.kind_of(expr.value)
            if base in (K.LLM, K.BOTO):
                return base
            if base == K.DBANY and expr.attr == "session":
                return K.SESSION
            if base is None and isinstance(expr.value, ast.Name):
                return self.hint(expr.attr)
            return None
        if isinstance(expr, ast.Call):
            info = self.call(expr)
            if info.result is None and isinstance(expr.func, ast.Name):
                return self.return_kinds.get(expr.func.id)
            return info.result
        if isinstance(expr, ast.Await):
            return self.kind_of(expr.value)
        if isinstance(expr, ast.Subscript):
            return K.HANDLE_MAPS.get(self.qualname(expr.value) or "")
        return None

    def kind_of_name(self, name: str) -> K.Kind | None:
        """The kind of the variable ``name`` at this point of the walk."""
        return self.kind_of(ast.Name(id=name))

    def _self_attribute(self, expr: ast.Attribute) -> K.Kind | bool | None:
        """``self.<attr>``'s kind from its class (False: known to be a project object, no handle)."""
        scope = self.scopes[-1]
        if not (isinstance(expr.value, ast.Name) and expr.value.id == scope.self_name and scope.class_name):
            return None
        facts = self.class_facts.get(scope.class_name)
        if facts is None:
            return None
        kind = facts.kinds.get(expr.attr)
        if kind is not None:
            return kind
        return False if expr.attr in facts.types else None

    def _imported_from_project(self, name: str) -> bool:
        target = self.imports.get(name, "")
        return self.is_project_ref(target)

    def hint(self, name: str) -> K.Kind | None:
        """The kind a DB-looking name (``session``, ``conn``, ``pool``) suggests, in a DB-aware module."""
        if not self.db_aware:
            return None
        return K.NAME_HINTS.get(name.lstrip("_").lower())

    def annotation_kind(self, ann: ast.expr | None) -> K.Kind | None:
        """The kind an annotation such as ``AsyncSession`` or ``asyncpg.Pool`` declares."""
        if ann is None:
            return None
        if isinstance(ann, ast.Subscript):  # Optional[X], Annotated[X, ...]
            inner = ann.slice
            if isinstance(inner, ast.Tuple) and inner.elts:
                inner = inner.elts[0]
            return self.annotation_kind(inner)
        if isinstance(ann, ast.BinOp):  # X | None
            return self.annotation_kind(ann.left) or self.annotation_kind(ann.right)
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            try:
                return self.annotation_kind(ast.parse(ann.value, mode="eval").body)
            except SyntaxError:
                return None
        dotted = self.qualname(ann)
        if dotted is None:
            return None
        if dotted in K.IO_ANNOTATIONS:
            return K.IO_ANNOTATIONS[dotted]
        if dotted.partition(".")[0] in K.DB_MODULES:
            return K.ANNOTATIONS.get(dotted.rpartition(".")[2])
        return None

    # -- calls ----------------------------------------------------------------------------------
    def call(self, node: ast.Call) -> CallInfo:
        """What ``node`` does; computed once per call node."""
        info = self.calls.get(id(node))
        if info is None:
            info = self._compute_call(node)
            info.awaited = id(node) in self.awaited
            self.calls[id(node)] = info
        return info

    def _compute_call(self, node: ast.Call) -> CallInfo:
        func = node.func
        text = dotted_text(func)
        info = CallInfo(text=text)
        if isinstance(func, ast.Attribute):
            if self.db_aware and (orm_call(self, node, info) or manager_call(self, node, info)):
                return info
            attr = func.attr
            recv = func.value
            if isinstance(recv, ast.Name):
                info.receiver = recv.id
            elif isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) \
                    and recv.value.id == self.scopes[-1].self_name:
                info.receiver = f"{recv.value.id}.{recv.attr}"  # self.session: held per method
            kind = self.kind_of(recv)
            if kind is not None:
                self._method_effects(info, kind, attr, node)
                if info.db or info.io or info.effect or info.result:
                    info.target = f"{kind.value}.{attr}"
                    return info
            if attr in K.POOL_CHECKOUT_METHODS and self.db_aware:
                info.db, info.effect, info.pooled, info.result = True, K.Effect.ACQUIRE, True, K.CONNECTION
                return info
            if attr in K.POOL_RETURN_METHODS and node.args and isinstance(node.args[0], ast.Name):
                info.effect, info.released = K.Effect.RELEASE, node.args[0].id
                return info
            if attr in K.QUEUE_METHODS:
                info.io = IoCall(K.Io.QUEUE, text)
                return info
            if (
                (isinstance(recv, ast.Attribute) and recv.attr in K.ORM_MANAGER_ATTRS)
                or (isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute)
                and manager_rooted(recv))
            ) and self.db_aware:
                info.db = True
                info.builds = attr in K.QUERYSET_LAZY_METHODS
                return info
        elif self.db_aware and evaluator_call(self, node, info):
            return info
        dotted = self.qualname(func)
        if dotted is None:
            if isinstance(func, ast.Name):
                kind = self.kind_of(func)
                if kind == K.SESSIONMAKER:
                    info.result = K.SESSION
                    info.effect = K.Effect.LAZY
            return info
        info.target = dotted
        if self.db_aware and is_model_class(dotted):
            info.result = K.MODEL  # Doc(title=...): a model instance, saved by its save()
        result = K.FACTORIES.get(dotted)
        if result == K.HTTP and any(
            k.arg == "transport" and dotted_text(k.value).removesuffix("(...)").endswith(K.IN_PROCESS_TRANSPORTS)
            for k in node.keywords
        ):
            return info  # an in-process test client, not network I/O
        if result is not None:
            info.result = result
            if result == K.CONNECTION:
                info.db = True
                info.effect = K.Effect.ACQUIRE
            elif result == K.SESSION:
                bind = next((k.value for k in node.keywords if k.arg == "bind"), node.args[0] if node.args else None)
                bound_to_connection = (isinstance(bind, ast.Call) and dotted_text(bind.func).endswith("get_bind")) or (
                    bind is not None and self.kind_of(bind) == K.CONNECTION)
                info.effect = None if bound_to_connection else K.Effect.LAZY
            elif result == K.SMTP and dotted not in K.OFFLINE_FACTORIES:
                info.io = IoCall(K.Io.SMTP)
            return info
        if dotted in K.DB_FUNCTIONS:
            info.db = True
            return info
        io = K.IO_FUNCTIONS.get(dotted)
        root, _, rest = dotted.partition(".")
        if io is None and rest and dotted.rpartition(".")[2] in K.IO_MODULE_METHODS.get(root, ()):
            io = K.Io.API
        if io is not None:
            if io is K.Io.SLEEP and _is_zero_sleep(node):
                return info
            info.io = IoCall(io, dotted)
            return info
        effect = K.FUNCTION_EFFECTS.get(dotted)
        if effect is not None:
            info.effect = effect
            return info
        if any(part in K.ORM_MANAGER_ATTRS for part in dotted.split(".")[1:]):
            info.db = self.db_aware
            info.builds = dotted.rpartition(".")[2] in K.QUERYSET_LAZY_METHODS
            return info
        if self.is_project_ref(dotted):
            info.ref = dotted if ":" in dotted else f"{self.root}:{dotted}"
            kind = self.kind_of(func) if isinstance(func, ast.Name) else None
            if kind == K.SESSIONMAKER:
                info.result = K.SESSION
                info.effect = K.Effect.LAZY
        return info

    def _method_effects(self, info: CallInfo, kind: K.Kind, attr: str, node: ast.Call) -> None:
        if kind in K.DB_KINDS:
            effect = K.METHOD_EFFECTS.get((kind, attr))
            info.result = K.METHOD_RESULTS.get((kind, attr))
            if kind == K.SESSIONMAKER and attr not in K.SESSIONMAKER_METHODS:
                return  # calling a factory's attribute other than these makes no session
            if effect is not None:
                info.effect = effect
                info.db = True
                info.pooled = kind in K.POOLED_KINDS
            elif attr in K.CLEANUP_METHODS:
                info.effect = K.Effect.END if attr in K.END_METHODS else K.Effect.RELEASE
                if attr in K.RELEASE_ARGUMENT_METHODS and node.args and isinstance(node.args[0], ast.Name):
                    info.released = node.args[0].id
                else:
                    info.released = info.receiver
            elif attr in K.COMMIT_METHODS:
                info.db = True
                info.effect = K.Effect.END
            elif attr in K.DB_METHODS or (kind == K.SESSION and attr in K.SESSION_QUERY_METHODS):
                info.db = True
            return
        info.result = K.METHOD_RESULTS.get((kind, attr))
        io = K.CLIENT_IO.get(kind)
        if io is not None and io.applies(attr):
            info.io = IoCall(io.io, info.text)


def _is_zero_sleep(node: ast.Call) -> bool:
    return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0
