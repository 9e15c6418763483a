"""Seed 2 for real: four enricher daemons share a PgBouncer pool of two server connections.

The buggy daemons await the validation API inside their transaction: the server shows their
connections idle in transaction while the calls are pending, and PgBouncer queues the other
daemons behind them. The fixed daemons hold a connection only for the SELECT and the UPDATE.
(Rows per second for both: benchmarks/enricher_throughput.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seed2-enricher"
sys.path.insert(0, str(EXAMPLE))
from launch import run_enrichers, setup  # noqa: E402


def _watch(dsn: str, bouncer: Any, db: str) -> Any:
    def sample() -> tuple[int, int]:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                               "AND state LIKE 'idle in transaction%%'", (db,)).fetchone()
        waiting = sum(int(p["cl_waiting"] or 0) for p in bouncer.show("POOLS") if p["database"] == db)
        return (int(row[0]) if row else 0, waiting)
    return sample


@pytest.mark.parametrize("variant", ["buggy", "fixed"])
def test_enricher_holds_connections_only_when_buggy(postgres: str, pgbouncer_factory: Any, variant: str) -> None:
    db = postgres.rsplit("/", 1)[1]
    bouncer = pgbouncer_factory(default_pool_size=2, max_client_conn=50)
    setup(postgres, rows=240)
    url = bouncer.dsn(db).replace("postgresql://", "postgresql+asyncpg://")
    result = run_enrichers(EXAMPLE / variant, url, postgres, daemons=4, api_delay=0.03, batch_size=20,
                           sample=_watch(postgres, bouncer, db))
    assert result["left"] == 0 and result["rows"] == 240  # both finish the work
    samples = result["samples"]
    idle_share = sum(1 for idle, _ in samples if idle) / len(samples)
    waited = max(w for _, w in samples)
    if variant == "buggy":
        assert idle_share >= 0.5, idle_share  # connections parked idle in transaction during HTTP calls
        assert waited > 0  # and the other daemons queued in PgBouncer behind them
    else:
        assert idle_share <= 0.2, idle_share
    bouncer.release(db)  # PgBouncer's pooled server connections, for the leak guard
