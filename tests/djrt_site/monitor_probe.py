"""``python -m djrt_site.monitor_probe TARGET...``: poolwarden's monitor on the test project's
native pool, in a process of its own (Django's settings are process-wide). Prints a JSON object
per TARGET, one after the other in the same process, as a JSON list.

A TARGET says what is handed to ``instrument()``: ``connection`` (``django.db.connection``),
``alias`` (the string ``"default"``) or ``pool`` (``connection.pool``). The probe serves three
"requests" (a query, then ``close_old_connections`` as Django does at the end of a request), then
a background thread queries and never gives its connection back: the classic Django leak (a
thread using the ORM outside the request cycle). It reports the LEAK event's location and the
line of the thread's query, the stats, and what ``instrument()`` said about a name that is no
Django alias.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djrt_site.settings")


def main(target_kind: str) -> dict[str, Any]:
    import django
    from django.db import close_old_connections, connection

    from poolwarden.runtime.monitor import LEAK, PoolEvent, instrument

    django.setup()
    leaked = threading.Event()
    events: list[PoolEvent] = []

    def on_event(event: PoolEvent) -> None:
        events.append(event)
        if event.kind == LEAK:
            leaked.set()

    target: Any = {"connection": connection, "alias": "default", "pool": connection.pool}[target_kind]
    monitor = instrument(target, leak_threshold=0.3, on_event=on_event)
    for _ in range(3):  # three requests' worth
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        close_old_connections()  # Django's request_finished: the pool gets its connection back
    after_requests = monitor.stats()

    def background() -> None:
        from django.db import connection

        with connection.cursor() as cursor:  # LEAK-LINE: the checkout; the thread ends without giving it back
            cursor.execute("SELECT 1")

    worker = threading.Thread(target=background)
    worker.start()
    worker.join(timeout=30)
    reported = leaked.wait(timeout=15)  # bounded: the monitor checks every quarter threshold
    leak = next((e for e in events if e.kind == LEAK), None)
    try:
        instrument("no-such-alias")
        refusal = ""
    except (TypeError, ValueError) as exc:
        refusal = f"{type(exc).__name__}: {exc}"
    stats = monitor.stats()
    monitor.close()
    source = Path(__file__).read_text().splitlines()
    return {
        "library": stats.library, "name": stats.name, "max": stats.max, "reported": reported,
        "checkouts_after_requests": after_requests.checkouts_total,
        "checked_out_after_requests": after_requests.checked_out,
        "checked_out": stats.checked_out, "leaks": stats.leaks_total, "refusal": refusal,
        "leak_at": [leak.location.file, leak.location.line, leak.location.function] if leak and leak.location else None,
        "leak_line": next(i for i, line in enumerate(source, 1) if "# LEAK-LINE" in line and "next(" not in line),
    }


if __name__ == "__main__":
    print(json.dumps([main(target) for target in sys.argv[1:]]))
    os._exit(0)  # the leaked connection's thread is gone: let the process end (its socket closes with it)
