"""Periodic jobs. Each one holds a pooled connection for as long as it runs."""

from __future__ import annotations

import logging

from coderden.celery_app import celery_app
from coderden.db import get_conn, put_conn

logger = logging.getLogger(__name__)


@celery_app.task(name="coderden.process_notifications")
def process_notifications() -> int:
    """Turn new events (follows, accepted solutions, replies) into in-app notifications."""
    conn = get_conn()  # expect: PW105
    with conn.cursor() as cur:
        cur.execute(
            "WITH batch AS (UPDATE events SET notified_at = now() "
            "WHERE notified_at IS NULL RETURNING id, recipient_id, kind, payload) "
            "INSERT INTO notifications (recipient_id, event_id, kind, payload) "
            "SELECT recipient_id, id, kind, payload FROM batch"
        )
        created = cur.rowcount
    conn.commit()
    put_conn(conn)
    return created


@celery_app.task(name="coderden.sync_contest_standings")
def sync_contest_standings() -> int:
    """Recompute the standings of every running contest."""
    conn = get_conn()  # expect: PW105
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM contests WHERE now() BETWEEN starts_at AND ends_at")
        contest_ids = [row[0] for row in cur.fetchall()]
        if not contest_ids:
            return 0
        for contest_id in contest_ids:
            cur.execute("SELECT recompute_contest_standings(%s)", (contest_id,))
    conn.commit()
    put_conn(conn)
    return len(contest_ids)


@celery_app.task(name="coderden.update_problem_stats")
def update_problem_stats() -> None:
    conn = get_conn()  # expect: PW105
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO problem_stats (problem_id, attempts, accepted, acceptance_rate) "
            "SELECT problem_id, count(*), count(*) FILTER (WHERE verdict = 'AC'), "
            "round(avg((verdict = 'AC')::int), 4) FROM submissions GROUP BY problem_id "
            "ON CONFLICT (problem_id) DO UPDATE SET attempts = EXCLUDED.attempts, "
            "accepted = EXCLUDED.accepted, acceptance_rate = EXCLUDED.acceptance_rate"
        )
    conn.commit()
    put_conn(conn)


@celery_app.task(name="coderden.recompute_streaks")
def recompute_streaks() -> None:
    conn = get_conn()  # expect: PW105
    with conn.cursor() as cur:
        cur.execute("SELECT recompute_daily_streaks(current_date)")
    conn.commit()
    put_conn(conn)


@celery_app.task(name="coderden.refresh_leaderboard")
def refresh_leaderboard() -> None:
    conn = get_conn()  # expect: PW105
    with conn.cursor() as cur:
        cur.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY global_leaderboard")
    conn.commit()
    put_conn(conn)
    logger.info("Leaderboard refreshed")


@celery_app.task(name="coderden.purge_expired_sessions")
def purge_expired_sessions() -> int:
    conn = get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM user_sessions WHERE expires_at < now() - interval '1 day'")
            purged = cur.rowcount
        conn.commit()
    finally:
        put_conn(conn)
    return purged
