"""``instrument()`` on Django's native pool (``OPTIONS["pool"]``), real Django, real PostgreSQL.

Given ``django.db.connection``, the alias ``"default"`` or ``connection.pool``, the monitor sees
Django's checkouts (a request's query, handed back by ``close_old_connections``), and names the
line of a thread that queried through the ORM and never gave its connection back.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .django_servers import TESTS, site_env

TARGETS = ("connection", "alias", "pool")


def test_instrument_takes_djangos_pool(postgres: str) -> None:
    env = site_env({"DJRT_DSN": postgres, "DJRT_POOL": str(len(TARGETS) + 1), "DJRT_APP": "djrt-monitor"})
    proc = subprocess.run([sys.executable, "-m", "djrt_site.monitor_probe", *TARGETS], cwd=TESTS, env=env,
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for target, seen in zip(TARGETS, json.loads(proc.stdout), strict=True):
        assert seen["library"] == "psycopg_pool" and seen["max"] == len(TARGETS) + 1, (target, seen)
        if target != "pool":
            assert seen["name"] == "django:default"
        assert (seen["checkouts_after_requests"], seen["checked_out_after_requests"]) == (3, 0), (target, seen)
        assert seen["reported"] and seen["leaks"] == 1 and seen["checked_out"] == 1, (target, seen)
        file, line, function = seen["leak_at"]  # the ORM call in the user's thread, not Django's internals
        assert (file.endswith("monitor_probe.py"), line, function) == (True, seen["leak_line"], "background")
        assert seen["refusal"].startswith("TypeError: ") and "no-such-alias" in seen["refusal"]
