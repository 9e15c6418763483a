"""Apps that fail without any fault, for the drill's baseline checks (poolwarden.drill.health).

* :func:`flipping_plan`: the database's answer on one call, the lie "free" on the next.
* :func:`leaky_plan`: right every time, but each call opens a connection and keeps it.
* ``python failing.py PORT``: an HTTP service whose answers to the same request alternate
  between 200 ``{"plan": "pro"}`` and seed 1's 402 "no active subscription".
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

_CALLS = itertools.count()
_LOCK = threading.Lock()
LEAKED: list[Any] = []  # the connections leaky_plan never closed; close_leaked() closes them


def _dsn() -> str:
    return os.environ.get("DRILL_TEST_DSN") or os.environ["DATABASE_URL"]


def flipping_plan() -> str:
    """Every other call answers "free" for a customer on "pro" (a failure laundered on alternate calls)."""
    with _LOCK:
        n = next(_CALLS)
    with psycopg.connect(_dsn(), connect_timeout=3, application_name="flipping") as conn:
        row = conn.execute("SELECT 'pro'").fetchone()
    assert row is not None
    return str(row[0]) if n % 2 == 0 else "free"


def leaky_plan() -> str:
    """The right answer, from a connection that is never closed."""
    conn = psycopg.connect(_dsn(), connect_timeout=3, application_name="leaky")
    with _LOCK:
        LEAKED.append(conn)
    row = conn.execute("SELECT 'pro'").fetchone()
    assert row is not None
    return str(row[0])


def close_leaked() -> None:
    with _LOCK:
        leaked, LEAKED[:] = list(LEAKED), []
    for conn in leaked:
        conn.close()


class _Flipping(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with _LOCK:
            n = next(_CALLS)
        status, body = (200, {"plan": "pro"}) if n % 2 == 0 else (402, {"detail": "no active subscription"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Flipping).serve_forever()
