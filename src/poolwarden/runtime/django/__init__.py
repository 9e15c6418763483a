"""poolwarden for Django services: ``poolwarden.runtime.django`` (see docs/runtime/django.md).

* :mod:`~poolwarden.runtime.django.middleware` — :class:`TransientErrorMiddleware`, sync and async:
  a transient database error escaping a view (or a middleware below it) becomes ``503`` +
  ``Retry-After``, never a 500, a 200 or a business "no".
* :mod:`~poolwarden.runtime.django.checks` (registered by :mod:`~poolwarden.runtime.django.apps` when
  ``"poolwarden.runtime.django"`` is in ``INSTALLED_APPS``) — system checks: ``manage.py check``
  reports the ``DATABASES`` problems ``poolwarden check`` finds (``poolwarden.PW106``, ``PW109``,
  ``PW110``), judged by the same function.
* :mod:`~poolwarden.runtime.django.fork` — ``reset_after_fork()``, gunicorn's ``post_fork`` and
  ``close_old_connections``: each forked child (Celery prefork, gunicorn ``--preload``) starts with
  its own connections and native pools, never the parent's sockets
  (``poolwarden.runtime.celery.install(app, django=True)`` wires them into a Celery app).
* ``poolwarden.runtime.monitor.instrument(connection)`` accepts Django's native pool.

Each module imports Django only when used, so importing this package costs nothing.
"""

from __future__ import annotations
