"""poolwarden for Django services: ``poolwarden.runtime.django``.

* :mod:`~poolwarden.runtime.django.middleware` — :class:`TransientErrorMiddleware`, sync and async:
  a transient database error escaping a view becomes ``503`` + ``Retry-After``, never a 500, a 200
  or a business "no".

Each module imports Django only when used, so importing this package costs nothing.
"""

from __future__ import annotations
