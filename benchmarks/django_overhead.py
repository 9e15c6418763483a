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
control row shows how much), so a second table measures what poolwarden adds without the network,
in CPU µs: the middleware on a view that makes no query, and the monitor on Django's own checkout
and return of a pooled connection (``ensure_connection()`` then ``close()``: no round trip).
Goal (issue 14): middleware and monitor ≤ 3%.
Usage: ``.venv/bin/python benchmarks/django_overhead.py [--loops 1000] [--rounds 21]``
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
    sys.modules[__name__].urlpatterns = [path("one", one_query), path("none", no_query)]  # type: ignore[attr-defined]
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


def no_query(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(b"ok")


def checkout() -> None:
    """Django's checkout and return of a pooled connection, no statement: no round trip."""
    from django.db import connection

    connection.ensure_connection()
    connection.close()


def loop(request: Callable[[], None], n: int) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds) for ``n`` requests."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        request()
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    with PostgresCluster(find_pg_bin()) as cluster:
        configure(cluster.dsn())
        from django.db import connection

        bare, with_mw = handler([]), handler([MIDDLEWARE])
        variants: list[tuple[str, Callable[[], None], Callable[[], Any]]] = [
            ("baseline: no middleware, not instrumented", bare, lambda: None),
            ("control: the same again", bare, lambda: None),
            ("TransientErrorMiddleware", with_mw, lambda: None),
            ("+ instrument(connection)", with_mw, lambda: instrument(connection)),
            ("+ instrument(connection, leak_threshold=30)", with_mw, lambda: instrument(connection, leak_threshold=30)),
        ]
        loop(bare, 300)  # warm: the pool filled, Django's caches built
        times: list[list[tuple[float, float]]] = [[] for _ in variants]
        for r in range(args.rounds):
            order = list(range(len(variants)))
            order = order[r % len(order):] + order[:r % len(order)]
            for i in order:
                _, request, attach = variants[i]
                monitor = attach()
                loop(request, 50)  # settle after attaching
                times[i].append(loop(request, args.loops))
                if monitor is not None:
                    monitor.close()
        costs = hook_cost(args.rounds, 5 * args.loops)
        connection.close_pool()
    base = times[0]
    print(f"{args.rounds} rounds x {args.loops} requests per variant")
    print_ratio_table([name for name, _, _ in variants], times, args.loops, "request")
    print("\nWhat poolwarden adds without the network (CPU µs, medians over rounds):")
    print("| loop | without | with | added µs |")
    print("|---|---:|---:|---:|")
    for name, (without, with_) in costs.items():
        print(f"| {name} | {without:.1f} | {with_:.1f} | {with_ - without:+.1f} |")
    added = sum(w - wo for wo, w in costs.values())
    request_cpu = statistics.median(b[1] for b in base) / args.loops * 1e6
    print(f"\nmiddleware + instrument(leak_threshold=30): {added:+.1f} µs of CPU per request, "
          f"{added / request_cpu * 100:+.1f}% of the baseline request's {request_cpu:.0f} µs")


def hook_cost(rounds: int, loops: int) -> dict[str, tuple[float, float]]:
    """CPU µs per iteration, without and with poolwarden, of two loops that make no round trip."""
    from django.db import connection

    bare, with_mw = handler([], "/none"), handler([MIDDLEWARE], "/none")
    pairs: dict[str, tuple[Callable[[], None], Callable[[], None], Callable[[], Any]]] = {
        "request to a view without a query: TransientErrorMiddleware": (bare, with_mw, lambda: None),
        "Django checkout + return: instrument(connection, leak_threshold=30)":
            (checkout, checkout, lambda: instrument(connection, leak_threshold=30)),
    }
    out: dict[str, tuple[float, float]] = {}
    for name, (without, with_, attach) in pairs.items():
        cpu: tuple[list[float], list[float]] = ([], [])
        loop(without, 500)
        for _ in range(rounds):
            for k, fn in enumerate((without, with_)):
                monitor = attach() if k else None
                loop(fn, 100)
                cpu[k].append(loop(fn, loops)[1] / loops * 1e6)
                if monitor is not None:
                    monitor.close()
        out[name] = (statistics.median(cpu[0]), statistics.median(cpu[1]))
    return out


if __name__ == "__main__":
    main()
