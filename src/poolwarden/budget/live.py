"""``--dsn``: read the server's limits and live count (one short, read-only connection)."""

from __future__ import annotations

import dataclasses

from poolwarden.budget.model import Deployment
from poolwarden.dsn import connection_error
from poolwarden.errors import UsageError


def with_server_limits(dep: Deployment, dsn: str) -> tuple[Deployment, int]:
    """``dep`` with max_connections and the reserved slots read from the server, and the live
    count of client backends. Raises :class:`UsageError` (password masked) when it cannot.

    The count includes the sessions of other roles that a role without ``pg_monitor`` sees with
    their backend type hidden: each holds a slot all the same."""
    from poolwarden.doctor.snapshot import CLIENT_SESSIONS, driver

    psycopg = driver("budget --dsn")
    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True, application_name="poolwarden-budget") as conn:
            settings: dict[str, str] = dict(conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('max_connections', 'superuser_reserved_connections', 'reserved_connections')").fetchall())
            row = conn.execute(f"SELECT count(*) FROM pg_stat_activity WHERE {CLIENT_SESSIONS}").fetchone()
    except Exception as exc:  # psycopg.Error, and what the resolver raises: one masked line
        raise UsageError(connection_error("--dsn", dsn, exc)) from None
    live = int(row[0]) if row else 0
    sources = {**dep.sources, **{k: "server" for k in settings}}
    return dataclasses.replace(
        dep,
        max_connections=int(settings["max_connections"]),
        superuser_reserved_connections=int(settings.get("superuser_reserved_connections", 0)),
        reserved_connections=int(settings.get("reserved_connections", 0)),
        sources=sources,
    ), live
