"""Run the enricher for real: N daemons (``python -m enricher``), the validation API stand-in,
a database — and watch them until every address is verified.

Used by ``tests/test_seed2_enricher.py`` and ``benchmarks/enricher_throughput.py``::

    setup(dsn, rows=400)
    result = run_enrichers("examples/seed2-enricher/buggy", "postgresql+asyncpg://...", daemons=4)
    result["rows_per_second"], result["samples"]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validation_api import serve


def setup(dsn: str, rows: int) -> None:
    """(Re)create the table with ``rows`` unverified addresses."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DROP TABLE IF EXISTS job_advertisement")
        conn.execute("CREATE TABLE job_advertisement (id serial PRIMARY KEY, email text NOT NULL, email_verified text)")
        conn.execute("INSERT INTO job_advertisement (email) "
                     "SELECT 'jobs' || i || '@example.com' FROM generate_series(1, %s) AS i", (rows,))


def run_enrichers(variant: str | Path, database_url: str, watch_dsn: str, *, daemons: int = 4,
                  api_delay: float = 0.05, batch_size: int = 20, timeout: float = 120.0,
                  sample: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Run ``daemons`` enrichers of ``variant`` until no address is left unverified (or ``timeout``)."""
    api = serve(0, api_delay)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = {**os.environ, "DATABASE_URL": database_url, "ENRICHER_PARTITIONS": str(daemons),
           "VALIDATION_API_URL": f"http://127.0.0.1:{api.server_address[1]}", "ENRICHER_BATCH_SIZE": str(batch_size),
           "ENRICHER_IDLE_PAUSE": "0.2", "VALIDATION_API_KEY": "drill"}
    procs: list[subprocess.Popen[bytes]] = []
    samples: list[Any] = []
    started = time.monotonic()
    left = -1
    try:
        for i in range(daemons):
            procs.append(subprocess.Popen([sys.executable, "-m", "enricher"], cwd=str(variant),
                                          env={**env, "ENRICHER_PARTITION": str(i)},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with psycopg.connect(watch_dsn, autocommit=True, connect_timeout=5, application_name="enricher-watch") as conn:
            while time.monotonic() - started < timeout:
                row = conn.execute("SELECT count(*) FROM job_advertisement WHERE email_verified IS NULL").fetchone()
                left = int(row[0]) if row else -1
                if sample is not None:
                    samples.append(sample())
                if left == 0:
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError("an enricher daemon exited early")
                time.sleep(0.05)  # the watcher's sampling period
            total = conn.execute("SELECT count(*) FROM job_advertisement").fetchone()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        api.shutdown()
        api.server_close()
    seconds = time.monotonic() - started
    done = (int(total[0]) if total else 0) - max(left, 0)
    return {"rows": done, "left": left, "seconds": seconds, "rows_per_second": done / seconds, "samples": samples}
