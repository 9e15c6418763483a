"""Views doing one query each: answered from the database, or failing as a real bug would."""

from __future__ import annotations

import os

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse


def one(request: HttpRequest) -> JsonResponse:
    """One query: the backend's pid and the worker process's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return JsonResponse({"backend": pid, "process": os.getpid()})


@transaction.non_atomic_requests  # Django refuses ATOMIC_REQUESTS on async views
async def one_async(request: HttpRequest) -> JsonResponse:
    """An async view: the same query through the async ORM bridge."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(one)(request)


def bug(request: HttpRequest) -> JsonResponse:
    """A query that fails for a reason no retry cures (division by zero): a 500, not a 503."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    return JsonResponse({})


def crash(request: HttpRequest) -> JsonResponse:
    """A plain bug, no database involved."""
    raise ValueError("a real bug")


def hello(request: HttpRequest) -> JsonResponse:
    """No query (the middleware ``djrt_site.middleware.Lookup`` makes one on this path)."""
    return JsonResponse({"hello": True})


def echo(request: HttpRequest) -> JsonResponse:
    """One query lasting 50 ms that echoes ``?token=``: on a socket shared with another process,
    the echo can be the other process's."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), %s::int, pg_sleep(0.05)", [int(request.GET["token"])])
        (pid, echoed, _) = cursor.fetchone()
    return JsonResponse({"backend": pid, "process": os.getpid(), "token": echoed})


def drf_view() -> object:
    """The same query in a Django REST framework ``APIView`` (DRF handles exceptions its own way
    first: what its ``exception_handler`` does not answer, it re-raises)."""
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class One(APIView):
        def get(self, request: object) -> Response:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (pid,) = cursor.fetchone()
            return Response({"backend": pid})

    return One.as_view()
