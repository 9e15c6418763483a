"""Project-wide settings a module's code may make: per-module facts the index joins.

Whether it sets a connect timeout anywhere (:func:`sets_connect_timeout`), and whether it turns on
Django's ``ATOMIC_REQUESTS`` (:func:`sets_atomic_requests`).

A connect whose options are built from project data the call cannot see (a wrapper's ``**kwargs``,
a helper's dict) can still be judged when *no code of the project* ever sets ``connect_timeout``:
then no parameter, helper or attribute of the project can carry it. :func:`sets_connect_timeout`
says whether a module's code may set one: a string ``"connect_timeout"`` (a dict key, a DSN
``connect_timeout=5``, a URL query) or a ``connect_timeout=`` keyword handed to anything but a
library function (which sets it for that call only, judged there). Test modules are left out by
the caller: what a test configures is not what the service runs with.
"""

from __future__ import annotations

import ast

from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext


def sets_connect_timeout(source: bytes, tree: ast.Module, ctx: FileContext) -> bool:
    """Whether ``tree`` may set a connect timeout that reaches a connect elsewhere (see module doc)."""
    if K.CONNECT_TIMEOUT_WORD.encode() not in source:
        return False  # the common case: one substring search, no second walk
    word = K.CONNECT_TIMEOUT_WORD
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and word in node.value:
            return True
        if isinstance(node, ast.Call) and any(kw.arg == word for kw in node.keywords):
            target = ctx.qualname(node.func) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
            if target is None or ctx.is_project_ref(target):
                return True
    return False


def sets_atomic_requests(source: bytes, tree: ast.Module) -> bool:
    """Whether ``tree`` turns on Django's ``ATOMIC_REQUESTS`` (``{"ATOMIC_REQUESTS": True}`` in a
    ``DATABASES`` entry, or ``DATABASES["default"]["ATOMIC_REQUESTS"] = True``): then every view
    runs in a transaction."""
    key = K.ATOMIC_REQUESTS_KEY
    if key.encode() not in source:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == key and isinstance(v, ast.Constant) and v.value is True:
                    return True
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is True:
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                        and target.slice.value == key:
                    return True
    return False
