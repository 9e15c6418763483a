"""Django middleware answering a database outage with 503 + Retry-After.

Add ``"poolwarden.runtime.django.middleware.TransientErrorMiddleware"`` to ``MIDDLEWARE`` (near the
top, so that it sees what the middleware below it raise). It works under WSGI and ASGI: Django
calls it as a sync or an async middleware, whichever the chain around it is, with no thread switch.

It sees two kinds of failure: an exception escaping the view (``process_exception``), and one
raised by a middleware below it — a tenant or feature-flag lookup before the view, a session
saved after it. Django turns the latter into a 500 before any middleware above sees it, sending
``got_request_exception`` on the way: the middleware notes the exception then, and replaces that
500 with the 503 below when the exception was transient.

An exception that :func:`poolwarden.runtime.errors.is_transient` recognises
(``OperationalError: too many clients``, a pool timeout, a server shut down...) becomes
``503 Service Unavailable`` with ``Retry-After`` and a small JSON body, as
:mod:`poolwarden.runtime.asgi` does for Starlette. An AMBIGUOUS one (the connection broke under a
COMMIT) is a 503 without ``Retry-After``, whose body says the request may have taken effect. Every
other exception is left to Django (your 500 handling stays yours).

Only exceptions reach it: a view that catches the error itself and answers 200 or 402 is what
``poolwarden check`` (PW101) and ``poolwarden drill`` are for.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

from poolwarden.runtime.errors import ErrorKind, classify, is_transient

__all__ = ["TransientErrorMiddleware", "outage_response"]

log = logging.getLogger("poolwarden.runtime.django")

_NOTED = "_poolwarden_exception"  # the request attribute holding the last exception Django turned into a 500


def _note_exception(sender: Any, request: Any = None, **_: Any) -> None:
    """``got_request_exception`` receiver: keep the exception being handled on the request. Django
    sends the signal inside its ``except`` block (under ASGI in a thread that re-raises it), so
    ``sys.exc_info()`` holds it."""
    exc = sys.exc_info()[1]
    if request is not None and exc is not None:
        with contextlib.suppress(AttributeError):  # a request that takes no attributes: nothing to remember
            setattr(request, _NOTED, exc)


def outage_response(exc: BaseException, *, retry_after: int = 5) -> Any:
    """The ``HttpResponse`` (503) for a transient error ``exc``, or ``None`` if it is not transient."""
    if not is_transient(exc):
        return None
    from django.http import JsonResponse  # type: ignore[import-untyped, unused-ignore]

    kind = classify(exc)
    if kind is ErrorKind.AMBIGUOUS:
        detail = "The database connection failed while this request ran: it may or may not have taken effect."
    else:
        detail = "The database is unavailable; retry later."
    response = JsonResponse({"detail": detail, "kind": kind.value}, status=503)
    if kind is not ErrorKind.AMBIGUOUS:
        response["Retry-After"] = str(retry_after)
    return response


class TransientErrorMiddleware:
    """Sync-and-async Django middleware: transient database errors become 503.

    ``retry_after`` (seconds) comes from the setting ``POOLWARDEN_RETRY_AFTER`` (default 5).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction  # type: ignore[import-untyped, unused-ignore]
        from django.conf import settings  # type: ignore[import-untyped, unused-ignore]

        self.get_response = get_response
        self.retry_after = int(getattr(settings, "POOLWARDEN_RETRY_AFTER", 5))
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        from django.core.signals import got_request_exception  # type: ignore[import-untyped, unused-ignore]

        got_request_exception.connect(_note_exception, dispatch_uid="poolwarden.runtime.django.middleware")

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return self._outage_instead_of_500(request, self.get_response(request))

    async def __acall__(self, request: Any) -> Any:
        return self._outage_instead_of_500(request, await self.get_response(request))

    def _outage_instead_of_500(self, request: Any, response: Any) -> Any:
        """The 503 for a 500 that Django made of a transient error raised below this middleware."""
        if getattr(response, "status_code", None) != 500:
            return response
        exc = getattr(request, _NOTED, None)
        if not isinstance(exc, BaseException):
            return response
        outage = outage_response(exc, retry_after=self.retry_after)
        if outage is None:
            return response
        log.warning("answering 503 instead of 500: transient database error (%s) below the view on %s",
                    classify(exc).value, getattr(request, "path", "?"), exc_info=exc)
        return outage

    def process_exception(self, request: Any, exception: Exception) -> Any:
        """Django's hook for an exception raised by the view: 503 if transient, else ``None`` (Django goes on)."""
        response = outage_response(exception, retry_after=self.retry_after)
        if response is not None:
            log.warning("answering 503: transient database error (%s) on %s", classify(exception).value,
                        getattr(request, "path", "?"), exc_info=exception)
        return response
