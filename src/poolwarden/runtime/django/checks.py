"""Django system checks: poolwarden's judgements of ``DATABASES``, run by ``manage.py check``.

Add ``"poolwarden.runtime.django"`` to ``INSTALLED_APPS`` (its :mod:`~poolwarden.runtime.django.apps`
registers :func:`check_databases`); ``manage.py check`` (and ``runserver``, ``migrate``) then report,
with poolwarden's rule codes as check ids:

- ``poolwarden.PW106`` (error): a PostgreSQL entry whose ``OPTIONS`` set no ``connect_timeout``, when
  libpq's ``PGCONNECT_TIMEOUT`` is not set in the environment either;
- ``poolwarden.PW109``: ``CONN_MAX_AGE`` other than 0 while the project serves ASGI (error), or
  ``CONN_MAX_AGE = None`` without ``CONN_HEALTH_CHECKS`` (warning);
- ``poolwarden.PW110`` (warning): ``OPTIONS["pool"]`` without ``max_size`` or ``timeout``.

The judgement is :func:`poolwarden.check.django_verdicts.judge`, the one ``poolwarden check`` uses on
the code, here on the live, configured entries (``django.db.connections.settings``). "Serves ASGI"
is read from the settings, as no server runs under ``manage.py check``: ``ASGI_APPLICATION`` set,
``daphne`` or ``channels`` in ``INSTALLED_APPS``, or ``POOLWARDEN_SERVES_ASGI = True`` — set that
one when an ASGI server (uvicorn, gunicorn with a uvicorn worker, hypercorn) serves the project without
either (``False`` says it does not, whatever the others say). Silence one id with Django's
``SILENCED_SYSTEM_CHECKS = ["poolwarden.PW106"]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from poolwarden.check import knowledge as K
from poolwarden.check.django_verdicts import Facts, Problem, judge

__all__ = ["SERVES_ASGI_SETTING", "TAG", "check_databases", "database_problems", "register", "settings_facts"]

#: The setting that says whether an ASGI server serves the project, when the others cannot tell.
SERVES_ASGI_SETTING = "POOLWARDEN_SERVES_ASGI"
#: The tag the checks are registered with (``manage.py check --tag poolwarden`` runs only them).
TAG = "poolwarden"


def settings_facts(settings: Any, environ: Mapping[str, str] = os.environ) -> Facts:
    """The project facts the judgement needs, from Django ``settings`` and the process environment."""
    said = getattr(settings, SERVES_ASGI_SETTING, None)
    asgi: str | None = None
    if said is not None:
        asgi = f"`{SERVES_ASGI_SETTING} = True`" if said else None
    elif getattr(settings, K.ASGI_SETTING, None):
        asgi = f"`{K.ASGI_SETTING}` is set"
    else:
        apps = [a for a in getattr(settings, K.INSTALLED_APPS, ()) if isinstance(a, str)]
        app = next((a for a in apps if a.partition(".")[0] in K.ASGI_APPS), None)
        if app is not None:
            asgi = f"`{app}` is in `{K.INSTALLED_APPS}`"
    return Facts(asgi=asgi, connect_timeout_env=bool(environ.get(K.LIBPQ_TIMEOUT_ENV)))


def database_problems(databases: Mapping[str, Mapping[str, Any]], facts: Facts) -> list[tuple[str, Problem]]:
    """Every problem of every entry of ``databases`` (alias, problem), in alias order. Pure."""
    return [(alias, problem) for alias in sorted(databases) for problem in judge(alias, databases[alias], facts)]


def check_databases(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[Any]:
    """The Django system check: one ``Error`` / ``Warning`` per problem, id ``poolwarden.PWxxx``."""
    from django.conf import settings  # type: ignore[import-untyped, unused-ignore]
    from django.core import checks  # type: ignore[import-untyped, unused-ignore]
    from django.db import connections  # type: ignore[import-untyped, unused-ignore]

    out: list[Any] = []
    for alias, problem in database_problems(connections.settings, settings_facts(settings)):
        kind = checks.Error if problem.severity == "error" else checks.Warning
        out.append(kind(problem.message, obj=f"DATABASES[{alias!r}]", id=f"poolwarden.{problem.code}"))
    return out


def register() -> None:
    """Register :func:`check_databases` with Django (idempotent: Django keeps a set of checks)."""
    from django.core import checks  # type: ignore[import-untyped, unused-ignore]

    checks.register(check_databases, TAG)
