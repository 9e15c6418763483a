"""One snapshot of a server: pg_settings and pg_stat_activity (and PgBouncer's SHOW POOLS),
taken over exactly one connection that is read-only, time-limited and named
``poolwarden-doctor``, closed before :func:`take` returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from poolwarden.dsn import connection_error
from poolwarden.errors import UsageError

SETTINGS = (
    "max_connections", "superuser_reserved_connections", "reserved_connections",
    "idle_in_transaction_session_timeout", "idle_session_timeout", "statement_timeout",
    "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "server_version_num",
)
APPLICATION_NAME = "poolwarden-doctor"

_ACTIVITY = """
SELECT pid, coalesce(datname, '') AS datname, coalesce(usename, '') AS usename,
       coalesce(application_name, '') AS application_name, coalesce(host(client_addr), 'local') AS client,
       coalesce(state, '') AS state, backend_start, xact_start, state_change,
       coalesce(left(query, 2000), '') AS query, coalesce(wait_event_type, '') AS wait_event_type
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


@dataclass
class Snapshot:
    """What the server said, at ``now`` (the server's clock)."""

    now: dt.datetime
    settings: dict[str, str]
    activity: list[dict[str, Any]]
    pgbouncer_pools: list[dict[str, Any]] = field(default_factory=list)


def take(dsn: str, pgbouncer: str | None = None, timeout_ms: int = 5000) -> Snapshot:
    """Take one snapshot. Raises :class:`UsageError` (DSN masked) when the server cannot be read."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        raise UsageError("doctor needs psycopg 3: pip install 'poolwarden[testing]'") from None
    try:
        with psycopg.connect(dsn, connect_timeout=5, application_name=APPLICATION_NAME, row_factory=dict_row,
                             options="-c default_transaction_read_only=on",
                             prepare_threshold=None) as conn, conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
            # reset_val: the server's value for this role and database, not our own SET LOCAL
            settings = {r["name"]: r["reset_val"] for r in conn.execute(
                "SELECT name, reset_val FROM pg_settings WHERE name = ANY(%s)", (list(SETTINGS),)).fetchall()}
            activity = list(conn.execute(_ACTIVITY).fetchall())
    except psycopg.Error as exc:
        raise UsageError(connection_error("--dsn", dsn, exc)) from None
    pools: list[dict[str, Any]] = []
    if pgbouncer is not None:
        try:
            with psycopg.connect(pgbouncer, connect_timeout=5, autocommit=True, row_factory=dict_row,
                                 prepare_threshold=None) as conn:
                pools = list(conn.execute("SHOW POOLS").fetchall())
        except psycopg.Error as exc:
            raise UsageError(connection_error("--pgbouncer", pgbouncer, exc)) from None
    return Snapshot(now, settings, activity, pools)
