"""Django's ORM and DRF as one file sees them: which calls run SQL now, which only build it.

:func:`orm_call` fills a :class:`CallInfo` for a method call on a manager, a QuerySet, a model
instance (``save()``), a DRF generic view (``super().destroy()``, ``self.get_object()``), a
serializer (``serializer.save()``) or a signal (``order_paid.send(...)``: a call of its receivers,
which the index knows); :func:`manager_call` for a custom or related manager (``Doc.live.filter()``,
``doc.tags.add(tag)``); :func:`evaluates` tells where a
QuerySet built earlier runs (``for row in qs``, ``list(qs)``, ``len(qs)``). A QuerySet is lazy:
``Doc.objects.filter(...)`` is cited only when nothing else runs, as a builder. Facts come from
:mod:`knowledge.orm`; a model is recognised by Django's convention (a class of a ``models`` module).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.scope import CallInfo, dotted_text

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext

_MANAGER_METHODS = K.QUERYSET_LAZY_METHODS | K.QUERYSET_RUN_METHODS | K.RELATED_MANAGER_METHODS
_INSTANCE_OK = _MANAGER_METHODS - K.CONTAINER_METHODS


def is_model_class(dotted: str | None) -> bool:
    """``app.models.Doc``, ``django.contrib.auth.models.User``: a class of a ``models`` module."""
    if not dotted or K.MODEL_MODULE not in dotted:  # the common case, without splitting
        return False
    *module, name = dotted.replace(":", ".").split(".")
    return bool(name[:1].isupper()) and K.MODEL_MODULE in module


def orm_call(ctx: FileContext, node: ast.Call, info: CallInfo) -> bool:
    """Fill ``info`` for a Django ORM, DRF or signal method call; True when the call is one."""
    func = node.func
    assert isinstance(func, ast.Attribute)
    attr, recv = func.attr, func.value
    if is_queryset(ctx, recv):
        return _queryset_method(info, attr, strict=not manager_rooted(recv))
    if attr in K.SIGNAL_SENDS and isinstance(recv, (ast.Name, ast.Attribute)) and ctx.kind_of(recv) is None:
        signal = ctx.global_ref(recv)  # (a client of known kind sends a request: `client.send(req)` is I/O)
        if signal is not None:  # a project signal (or Django's): the index knows its receivers
            info.ref = f"{signal}.{attr}"
            return True
    if attr in K.MODEL_RUN_METHODS and _is_instance(ctx, recv):
        info.db = True
        return True
    if attr in K.SERIALIZER_RUN_METHODS and dotted_text(recv).rpartition(".")[2].lower().endswith(K.SERIALIZER_NAME):
        info.db = True
        return True
    if attr in K.DRF_RUN_METHODS and _inherited_drf(ctx, recv, attr):
        info.db = True
        return True
    if attr in K.DRF_LAZY_METHODS and _inherited_drf(ctx, recv, attr):
        info.db, info.builds, info.result = True, True, K.QUERYSET
        return True
    return False


def is_queryset(ctx: FileContext, expr: ast.expr) -> bool:
    """``expr`` is a manager or a QuerySet: ``Doc.objects``, ``Doc.objects.filter(...)``, a custom
    manager followed by a QuerySet method, ``doc.tags``, a name bound to one, DRF's ``get_queryset()``."""
    if isinstance(expr, ast.Await):
        return False
    if isinstance(expr, ast.Name):
        return ctx.kind_of(expr) == K.QUERYSET
    if isinstance(expr, ast.Attribute):
        return expr.attr in K.ORM_MANAGER_ATTRS
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return ctx.call(expr).result == K.QUERYSET
    return False


def evaluates(ctx: FileContext, expr: ast.expr) -> bool:
    """Iterating ``expr`` runs a QuerySet's query (``for doc in qs``, ``[d for d in Doc.objects.all()]``)."""
    return is_queryset(ctx, expr) or (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
                                      and _manager_like(ctx, expr.func) is not None)


def evaluator_call(ctx: FileContext, node: ast.Call, info: CallInfo) -> bool:
    """``list(qs)``, ``len(qs)``, ``bool(qs)``: a builtin that evaluates the QuerySet handed to it."""
    func = node.func
    if not (isinstance(func, ast.Name) and func.id in K.QUERYSET_EVALUATORS and len(node.args) == 1):
        return False
    if not evaluates(ctx, node.args[0]):
        return False
    info.db = True
    info.cite = f"{func.id}({dotted_text(node.args[0])})"
    return True


def _queryset_method(info: CallInfo, attr: str, *, strict: bool) -> bool:
    if attr in K.QUERYSET_LAZY_METHODS:
        info.db, info.builds, info.result = True, True, K.QUERYSET
        info.locks = attr in K.ROW_LOCK_METHODS
        return True
    if attr in K.QUERYSET_RUN_METHODS or attr in K.RELATED_MANAGER_METHODS:
        info.db = True
        if attr in K.INSTANCE_METHODS:
            info.result = K.MODEL
        return True
    if strict or attr.startswith("_"):
        return False
    info.db = True  # a custom method of `Model.objects`: a manager's methods query
    return True


def manager_rooted(expr: ast.expr) -> bool:
    """The chain starts at ``<X>.objects`` (a manager whose custom methods query too)."""
    while isinstance(expr, (ast.Call, ast.Attribute)):
        if isinstance(expr, ast.Attribute):
            if expr.attr in K.ORM_MANAGER_ATTRS:
                return True
            expr = expr.value
        else:
            expr = expr.func
    return False


def _manager_like(ctx: FileContext, func: ast.Attribute) -> str | None:
    """For ``<recv>.<method>`` where ``recv`` is ``Model.<manager>`` or ``instance.<related>``: the
    method, if it is one such an attribute has."""
    recv = func.value
    if not isinstance(recv, ast.Attribute) or recv.attr.startswith("__"):
        return None
    owner = recv.value
    if _is_instance(ctx, owner):
        return func.attr if func.attr in _INSTANCE_OK else None
    if isinstance(owner, ast.Name) and is_model_class(ctx.qualname(owner)) and not _is_local(ctx, owner.id):
        ok = func.attr in K.QUERYSET_LAZY_METHODS or func.attr in K.QUERYSET_RUN_METHODS
        return func.attr if ok else None
    return None


def manager_call(ctx: FileContext, node: ast.Call, info: CallInfo) -> bool:
    """``Doc.live.filter(...)`` (a custom manager), ``doc.tags.add(tag)`` (a related manager)."""
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in _MANAGER_METHODS:
        return False
    method = _manager_like(ctx, func)
    if method is None:
        return False
    return _queryset_method(info, method, strict=True)


def _is_instance(ctx: FileContext, expr: ast.expr) -> bool:
    """A model instance: a name bound to one (``doc = Doc.objects.get(...)``, ``doc: Doc``)."""
    if isinstance(expr, ast.Name):
        if ctx.kind_of(expr) == K.MODEL:
            return True
        return _is_local(ctx, expr.id) and is_model_class(ctx.qualname(expr))
    if isinstance(expr, ast.Call):
        return ctx.call(expr).result == K.MODEL
    return False


def _is_local(ctx: FileContext, name: str) -> bool:
    for scope in reversed(ctx.scopes):
        if scope.node is None:
            return False
        if name in scope.locals and name not in scope.globals:
            return True
    return False


def _inherited_drf(ctx: FileContext, recv: ast.expr, attr: str) -> bool:
    """``super().destroy()`` or ``self.get_object()`` in a DRF view that does not define the method."""
    scope = ctx.scopes[-1]
    if scope.class_name is None:
        return False
    facts = ctx.class_facts.get(scope.class_name)
    if facts is None or not _is_drf_view(facts.bases):
        return False
    if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Name) and recv.func.id == "super":
        return True
    return isinstance(recv, ast.Name) and recv.id == scope.self_name and attr not in facts.methods


def _is_drf_view(bases: tuple[str, ...]) -> bool:
    return any(b.partition(".")[0] == K.DRF_ROOT or b.rpartition(".")[2].endswith(K.DRF_VIEW_SUFFIXES)
               for b in bases)
