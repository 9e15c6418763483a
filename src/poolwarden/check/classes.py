"""What a class keeps in its attributes: the kind or project type of ``self.<attr>``.

Real services keep their handles on objects: ``self.session`` set in ``__init__`` from an
annotated parameter, a dataclass field ``db: AsyncSession``, ``self._pool = await
asyncpg.create_pool(...)`` in a ``connect()`` method, ``self.repo = UserRepo(session)``, a
``@property`` returning ``UserRepo``. :func:`class_facts` reads the whole class body before any
method is walked, so nothing depends on the order in which methods are written.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.scope import dotted_text, nested_blocks

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext


@dataclass(slots=True)
class ClassFacts:
    """Attributes of one class: their kind (a DB handle, an I/O client) or their project class."""

    kinds: dict[str, K.Kind] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # attr -> project class ref (dotted)
    methods: frozenset[str] = frozenset()  # the methods the class body defines
    bases: tuple[str, ...] = ()  # its bases, qualified where the file can tell (else as written)


_AMBIGUOUS = object()


def class_facts(node: ast.ClassDef, ctx: FileContext) -> ClassFacts:
    """The kinds and project types of ``node``'s attributes, from every assignment in its body.

    An attribute given two different kinds (or types) anywhere in the class is left unknown;
    ``None`` assignments (``self._pool = None`` before ``connect()``) do not count.
    """
    kinds: dict[str, object] = {}
    types: dict[str, object] = {}

    def note(table: dict[str, object], attr: str, value: object) -> None:
        if value is None:
            return
        old = table.get(attr)
        table[attr] = value if old is None or old == value else _AMBIGUOUS

    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):  # dataclass / pydantic field
            note(kinds, stmt.target.id, ctx.annotation_kind(stmt.annotation))
            note(types, stmt.target.id, project_type(stmt.annotation, ctx))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _is_property(stmt) and stmt.returns is not None:
                note(kinds, stmt.name, ctx.annotation_kind(stmt.returns))
                note(types, stmt.name, project_type(stmt.returns, ctx))
            _method_assignments(stmt, ctx, note, kinds, types)
    return ClassFacts(
        kinds={a: k for a, k in kinds.items() if isinstance(k, K.Kind)},
        types={a: t for a, t in types.items() if isinstance(t, str)},
        methods=frozenset(s.name for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))),
        bases=tuple(ctx.qualname(b) or dotted_text(b) for b in node.bases),
    )


def _method_assignments(func: ast.FunctionDef | ast.AsyncFunctionDef, ctx: FileContext,
                        note: Callable[[dict[str, object], str, object], None],
                        kinds: dict[str, object], types: dict[str, object]) -> None:
    args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
    if not args or any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list):
        return
    self_name = args[0].arg
    annotations = {a.arg: a.annotation for a in args[1:]}
    value: ast.expr | None
    for stmt in _statements(func.body):
        if isinstance(stmt, ast.Assign):
            targets, value, annotation = stmt.targets, stmt.value, None
        elif isinstance(stmt, ast.AnnAssign):
            targets, value, annotation = [stmt.target], stmt.value, stmt.annotation
        else:
            continue
        for target in targets:
            if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id == self_name):
                continue
            attr = target.attr
            if annotation is not None:
                note(kinds, attr, ctx.annotation_kind(annotation))
                note(types, attr, project_type(annotation, ctx))
            if value is None:
                continue
            inner = value.value if isinstance(value, ast.Await) else value
            if isinstance(inner, ast.Name) and inner.id in annotations:  # self.session = session
                ann = annotations[inner.id]
                note(kinds, attr, ctx.annotation_kind(ann) if ann is not None else ctx.hint(inner.id))
                note(types, attr, project_type(ann, ctx) if ann is not None else None)
            elif isinstance(inner, ast.Call):
                note(kinds, attr, ctx.kind_of(inner))
                ref = ctx.qualname(inner.func)
                if ref is not None and ctx.is_project_ref(ref) and looks_like_class(inner.func):
                    note(types, attr, ref)


def _statements(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Every statement in ``stmts`` and in the blocks nested in them (not in nested functions or
    classes, not into expressions): where ``self.x = ...`` can be written."""
    out: list[ast.stmt] = []
    stack = list(reversed(stmts))
    while stack:
        stmt = stack.pop()
        out.append(stmt)
        for block in reversed(nested_blocks(stmt)):
            stack.extend(reversed(block))
    return out


def project_type(ann: ast.expr | None, ctx: FileContext) -> str | None:
    """The project class an annotation names (``Optional[Repo]``, ``\"Repo\"``, ``Repo | None``), or None."""
    if ann is None:
        return None
    if isinstance(ann, ast.Subscript):  # Optional[X]
        inner = ann.slice
        return project_type(inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner, ctx)
    if isinstance(ann, ast.BinOp):  # X | None
        return project_type(ann.left, ctx) or project_type(ann.right, ctx)
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            return project_type(ast.parse(ann.value, mode="eval").body, ctx)
        except SyntaxError:
            return None
    ref = ctx.qualname(ann)
    return ref if ref is not None and ctx.is_project_ref(ref) else None


def _is_property(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id in K.PROPERTY_DECORATORS)
        or (isinstance(d, ast.Attribute) and d.attr in K.PROPERTY_DECORATORS)
        for d in func.decorator_list
    )


def looks_like_class(func: ast.expr) -> bool:
    """``Foo(...)`` / ``mod.Foo(...)``: a capitalised callee, by convention a class."""
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name[:1].isupper()
