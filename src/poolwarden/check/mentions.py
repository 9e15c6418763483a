"""Project-wide settings a module's code may make: per-module facts the index joins.

Whether it sets a connect timeout anywhere (:func:`sets_connect_timeout`), whether it turns on
Django's ``ATOMIC_REQUESTS`` (:func:`sets_atomic_requests`), whether it says the Django project serves
ASGI (:func:`serves_asgi`), and whether it gives Django's connections a connect timeout outside the
entry it writes (:func:`sets_settings_timeout`).

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


def serves_asgi(source: bytes, tree: ast.Module, ctx: FileContext) -> tuple[str, bool, bool]:
    """What ``tree`` says about serving the Django project over ASGI: the evidence ("" for none), and
    whether it makes the ASGI / WSGI application (``get_asgi_application()`` / ``get_wsgi_application()``).

    Evidence: ``ASGI_APPLICATION`` set at module level, an ASGI app (``daphne``, ``channels``) in
    ``INSTALLED_APPS``, an ASGI server started or routed in code (``uvicorn.run``, channels'
    ``ProtocolTypeRouter``) or named as gunicorn's worker class. ``startproject`` writes both an
    ``asgi.py`` and a ``wsgi.py``, so making the ASGI application alone is not evidence: the index
    counts it only when no module makes the WSGI one.
    """
    evidence = ""
    asgi_app = wsgi_app = False
    if not any(word in source for word in K.ASGI_TOKEN_WORDS):
        return evidence, asgi_app, wsgi_app  # the common case: substring searches, no second walk
    for stmt in tree.body:
        names = [t.id for t in _assigned(stmt) if isinstance(t, ast.Name)]
        if K.ASGI_SETTING in names and not evidence:
            evidence = f"`{K.ASGI_SETTING}` is set in `{ctx.module}`"
        if K.INSTALLED_APPS in names or _calls_on(stmt, K.INSTALLED_APPS):
            app = next((n.value for n in ast.walk(stmt)
                        if isinstance(n, ast.Constant) and n.value in K.ASGI_APPS), None)
            if app is not None and not evidence:
                evidence = f"`{app}` is in `{K.INSTALLED_APPS}` in `{ctx.module}`"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
            name = ctx.qualname(node.func)
            asgi_app = asgi_app or name == K.ASGI_APP_FACTORY
            wsgi_app = wsgi_app or name == K.WSGI_APP_FACTORY
            if name in K.ASGI_SERVER_CALLS and not evidence:
                evidence = f"`{name}()` in `{ctx.module}`"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and not evidence \
                and node.value.startswith(K.ASGI_WORKER_CLASSES):
            evidence = f"the `{node.value}` worker class in `{ctx.module}`"
    return evidence, asgi_app, wsgi_app


def sets_settings_timeout(source: bytes, tree: ast.Module) -> bool:
    """Whether ``tree`` gives Django's connections a connect timeout from outside an entry it writes:
    it names libpq's ``PGCONNECT_TIMEOUT``, or it writes ``DATABASES`` and names ``connect_timeout``
    (a split settings module: ``DATABASES["default"]["OPTIONS"]["connect_timeout"] = 5``)."""
    if K.LIBPQ_TIMEOUT_ENV.encode() in source and any(
            isinstance(n, ast.Constant) and isinstance(n.value, str) and K.LIBPQ_TIMEOUT_ENV in n.value
            for n in ast.walk(tree)):
        return True
    if K.CONNECT_TIMEOUT_WORD.encode() not in source or K.DJANGO_DATABASES.encode() not in source:
        return False
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and K.CONNECT_TIMEOUT_WORD in n.value
               for n in ast.walk(tree))


def _assigned(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return [stmt.target]
    return []


def _calls_on(stmt: ast.stmt, name: str) -> bool:
    """``INSTALLED_APPS.append(...)`` / ``.insert(...)`` / ``.extend(...)``."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
        and isinstance(stmt.value.func, ast.Attribute) and isinstance(stmt.value.func.value, ast.Name) \
        and stmt.value.func.value.id == name
