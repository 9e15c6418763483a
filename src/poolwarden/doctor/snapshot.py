"""One snapshot of a server: pg_settings and pg_stat_activity (and PgBouncer's SHOW POOLS),
taken over exactly one connection that is read-only, time-limited and named
``poolwarden-doctor``, closed before :func:`take` returns.

A role without ``pg_monitor`` (or ``pg_read_all_stats``, or superuser) sees other roles' sessions
in pg_stat_activity with their state, query and client hidden. Those rows are still counted (they
hold a slot each) and marked ``hidden``; :attr:`Snapshot.privileged` says whether the role sees
everything, so the diagnosis never calls partial data healthy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from poolwarden.dsn import connection_error
from poolwarden.errors import UsageError
from poolwarden.extras import require

SETTINGS = (
    "max_connections", "superuser_reserved_connections", "reserved_connections",
    "idle_in_transaction_session_timeout", "idle_session_timeout", "statement_timeout",
    "tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "server_version_num",
)
APPLICATION_NAME = "poolwarden-doctor"

#: The rows of pg_stat_activity that hold a client slot, other than our own: client backends, and
#: the rows an unprivileged role sees with backend_type, state and query hidden — a session of some
#: role in some database (background workers have no role; a parallel worker of another role's
#: query is counted too while it runs, as the role cannot tell it apart). doctor and budget --dsn
#: count with this one predicate.
CLIENT_SESSIONS = ("pid <> pg_backend_pid() AND (backend_type = 'client backend' "
                   "OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL))")

_ACTIVITY = f"""
SELECT pid, coalesce(datname, '') AS datname, coalesce(usename, '') AS usename,
       coalesce(application_name, '') AS application_name,
       CASE WHEN backend_type IS NULL THEN '(hidden)' ELSE coalesce(host(client_addr), 'local') END AS client,
       coalesce(state, '') AS state, backend_start, xact_start, state_change,
       CASE WHEN backend_type IS NULL THEN '' ELSE coalesce(left(query, 2000), '') END AS query,
       coalesce(wait_event_type, '') AS wait_event_type, backend_type IS NULL AS hidden
FROM pg_stat_activity
WHERE {CLIENT_SESSIONS}
"""

_PRIVILEGES = """
SELECT current_user AS role,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
       OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS privileged,
       ARRAY(SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY 1) AS databases
"""


@dataclass
class Snapshot:
    """What the server said, at ``now`` (the server's clock), as ``role``."""

    now: dt.datetime
    settings: dict[str, str]
    activity: list[dict[str, Any]]
    pgbouncer_pools: list[dict[str, Any]] = field(default_factory=list)
    role: str = ""
    privileged: bool = True
    databases: list[str] = field(default_factory=list)


def driver(command: str) -> Any:
    """psycopg, or a :class:`UsageError` naming the extra of ``command`` that installs it."""
    return require("psycopg", command, "psycopg", command.split()[0])


def take(dsn: str, pgbouncer: str | None = None, timeout_ms: int = 5000, command: str = "doctor") -> Snapshot:
    """Take one snapshot. Raises :class:`UsageError` (DSN masked, driver message scrubbed) when the
    server cannot be read. The password may come from the DSN, ``PGPASSWORD`` or ``PGPASSFILE``:
    libpq reads them; nothing here overrides them."""
    psycopg = driver(command)
    from psycopg.rows import dict_row

    try:
        with psycopg.connect(dsn, connect_timeout=5, application_name=APPLICATION_NAME, row_factory=dict_row,
                             options="-c default_transaction_read_only=on",
                             prepare_threshold=None) as conn, conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            now = conn.execute("SELECT now() AS now").fetchone()["now"]
            # reset_val: the server's value for this role and database, not our own SET LOCAL
            settings = {r["name"]: r["reset_val"] for r in conn.execute(
                "SELECT name, reset_val FROM pg_settings WHERE name = ANY(%s)", (list(SETTINGS),)).fetchall()}
            privileges = conn.execute(_PRIVILEGES).fetchone()
            activity = list(conn.execute(_ACTIVITY).fetchall())
    except Exception as exc:  # psycopg.Error, and what the resolver raises (UnicodeError): never the DSN
        raise UsageError(connection_error("--dsn", dsn, exc)) from None
    pools: list[dict[str, Any]] = []
    if pgbouncer is not None:
        try:
            with psycopg.connect(pgbouncer, connect_timeout=5, autocommit=True, row_factory=dict_row,
                                 prepare_threshold=None) as conn:
                pools = list(conn.execute("SHOW POOLS").fetchall())
        except Exception as exc:  # as above: one masked line
            raise UsageError(connection_error("--pgbouncer", pgbouncer, exc)) from None
    return Snapshot(now, settings, activity, pools, role=str(privileges["role"]),
                    privileged=bool(privileges["privileged"]), databases=list(privileges["databases"]))
