"""A tiny "is this customer on a paid plan?" service, in two versions, for the drill tests."""

from __future__ import annotations

import os

import psycopg

DSN = os.environ.get("DRILL_TEST_DSN", "")


def _plan() -> str:
    dsn = DSN or os.environ["DATABASE_URL"]  # under --start-postgres the drill gives DATABASE_URL
    with psycopg.connect(dsn, connect_timeout=3, application_name="shop") as conn:
        row = conn.execute("SELECT 'pro'").fetchone()
        assert row is not None
        return str(row[0])


def lying_plan() -> str:
    """Seed 1's shape: any failure becomes the business answer "free"."""
    try:
        return _plan()
    except Exception:
        return "free"


def honest_plan() -> str:
    """The failure reaches the caller (a worker retries, an API answers 503)."""
    return _plan()
