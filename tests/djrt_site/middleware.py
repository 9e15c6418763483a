"""A middleware that queries the database itself, as a tenant or feature-flag lookup does: on
``/lookup`` before the view, on ``/lookup-after`` after it (``process_response``)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse


def _query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


class Lookup:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/lookup":
            _query()
        response = self.get_response(request)
        if request.path == "/lookup-after":
            _query()
        return response
