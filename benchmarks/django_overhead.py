"""What poolwarden's Django middleware and monitor cost on a Django view doing one query.

A throwaway cluster (the pytest plugin's machinery); Django configured in this process with its
native psycopg pool (``OPTIONS["pool"]``, min 2, max 4; ``CONN_MAX_AGE=0``, Django's setting for
a pool) and one view: a ``SELECT 1`` through ``connection.cursor()``. Each variant is a
``WSGIHandler`` — Django's whole request path (``request_started`` / ``request_finished``, the
middleware chain, URL resolution, the view, the pool checkout and return) — called with a WSGI
environ ``--loops`` times per round, with no HTTP server in front (its cost and noise would hide
the figures):

* baseline: ``MIDDLEWARE = []``, the pool not instrumented (twice: the second row is an A/A
  control showing the noise);
* ``TransientErrorMiddleware``;
* ``TransientErrorMiddleware`` + ``instrument(connection)``: stats, histograms, utilisation events;
* the same with ``leak_threshold=30``: plus the checkout location of every connection.

Rounds are interleaved (every variant once per round, order rotated); the monitor is attached
before a variant's loop and closed (every hook removed) after it. Each row is its median over
rounds against the baseline's median in the same run, for wall-clock time and for this thread's
CPU time. On a shared 2-core machine where the server shares the CPUs, that table is noisy (the
control row shows how much), so a second table runs the same variants on a view that checks a
pooled connection out and makes no query (no round trip): what poolwarden adds per request, in
CPU µs, set against the CPU of the request that makes the query.
Goal (issue 14): middleware and monitor ≤ 3%.
Usage: ``.venv/bin/python benchmarks/django_overhead.py [--loops 1000] [--rounds 21]`` (about 8 minutes)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ratios import print_ratio_table

from poolwarden.runtime.monitor import instrument
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin

MIDDLEWARE = "poolwarden.runtime.django.middleware.TransientErrorMiddleware"


def one_query(request: Any) -> Any:
    from django.db import connection
    from django.http import HttpResponse

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse(b"ok")


def configure(dsn: str) -> None:
    from django.conf import settings
    from django.urls import path

    parts = urlsplit(dsn)
    sys.modules[__name__].urlpatterns = [path("one", one_query), path("checkout", checkout_only)]  # type: ignore[attr-defined]
    settings.configure(
        DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, USE_TZ=True,
        INSTALLED_APPS=[], MIDDLEWARE=[],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"), "USER": parts.username,
            "PASSWORD": parts.password or "", "HOST": parts.hostname, "PORT": str(parts.port),
            "CONN_MAX_AGE": 0, "OPTIONS": {"pool": {"min_size": 2, "max_size": 4, "timeout": 5}},
        }},
    )
    import django

    django.setup()


def handler(middleware: list[str], path: str = "/one") -> Callable[[], None]:
    """One request to ``path`` through a ``WSGIHandler`` built with ``middleware``; checks the answer."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    settings.MIDDLEWARE = middleware
    wsgi = WSGIHandler()  # loads the middleware chain now
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "bench", "SERVER_PORT": "80",
               "wsgi.input": io.BytesIO(), "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}
    statuses: list[str] = []

    def start_response(status: str, headers: Any) -> None:
        statuses.append(status)

    def request() -> None:
        body = wsgi(dict(environ), start_response)
        body.close()  # request_finished: Django hands the connection back to the pool
        if statuses.pop() != "200 OK":
            raise SystemExit("the view did not answer 200")

    return request


def checkout_only(request: Any) -> Any:
    """Django's checkout of a pooled connection (handed back at the end of the request), no statement."""
    from django.db import connection
    from django.http import HttpResponse

    connection.ensure_connection()
    return HttpResponse(b"ok")


def loop(request: Callable[[], None], n: int) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) for ``n`` requests."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        request()
    return time.perf_counter() - wall, time.thread_time() - cpu


def measure(path: str, rounds: int, loops: int) -> tuple[list[str], list[list[tuple[float, float]]]]:
    """The variants' names and their (wall s, CPU s) per round for ``loops`` requests to ``path``."""
    from django.db import connection

    bare, with_mw = handler([], path), handler([MIDDLEWARE], path)
    variants: list[tuple[str, Callable[[], None], Callable[[], Any]]] = [
        ("baseline: no middleware, not instrumented", bare, lambda: None),
        ("control: the same again", bare, lambda: None),
        ("TransientErrorMiddleware", with_mw, lambda: None),
        ("+ instrument(connection)", with_mw, lambda: instrument(connection)),
        ("+ instrument(connection, leak_threshold=30)", with_mw, lambda: instrument(connection, leak_threshold=30)),
    ]
    loop(bare, 300)  # warm: the pool filled, Django's caches built
    times: list[list[tuple[float, float]]] = [[] for _ in variants]
    for r in range(rounds):
        order = list(range(len(variants)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            _, request, attach = variants[i]
            monitor = attach()
            loop(request, 50)  # settle after attaching
            times[i].append(loop(request, loops))
            if monitor is not None:
                monitor.close()
    return [name for name, _, _ in variants], times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    with PostgresCluster(find_pg_bin()) as cluster:
        configure(cluster.dsn())
        from django.db import connection

        names, with_query = measure("/one", args.rounds, args.loops)
        _, no_round_trip = measure("/checkout", args.rounds, args.loops)
        connection.close_pool()
    print(f"{args.rounds} rounds x {args.loops} requests per variant; a view doing SELECT 1:")
    print_ratio_table(names, with_query, args.loops, "request")
    print("\nThe same, a view that checks a connection out and makes no query (no round trip, less noise):")
    print_ratio_table(names, no_round_trip, args.loops, "request")
    base = statistics.median(b[1] for b in with_query[0]) / args.loops * 1e6
    bare = statistics.median(b[1] for b in no_round_trip[0])
    for name, t in zip(names[3:], no_round_trip[3:], strict=True):
        added = (statistics.median(x[1] for x in t) - bare) / args.loops * 1e6
        print(f"\nmiddleware {name}: {added:+.1f} µs of CPU per request without a round trip, "
              f"{added / base * 100:+.1f}% of the request doing SELECT 1 ({base:.0f} µs)", end="")
    print()


if __name__ == "__main__":
    main()
