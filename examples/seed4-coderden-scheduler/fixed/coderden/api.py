"""The HTTP API (served by gunicorn with threads)."""

from __future__ import annotations

from typing import Any

import psycopg2
from flask import Flask, jsonify, request
from psycopg2.extras import RealDictCursor
from psycopg2.pool import PoolError

from coderden.db import connection, get_conn, put_conn

app = Flask(__name__)

PROBLEM_SQL = "SELECT id, slug, title, body, difficulty FROM problems WHERE slug = %s AND published"
STATS_SQL = "SELECT attempts, accepted, acceptance_rate FROM problem_stats WHERE problem_id = %s"
CONTEST_SQL = (
    "SELECT id, title, starts_at, starts_at <= now() AS started FROM contests WHERE id = %s"
)
STANDINGS_SQL = (
    "SELECT rank, user_id, handle, score, penalty_minutes FROM contest_standings "
    "WHERE contest_id = %s ORDER BY rank LIMIT %s"
)


@app.errorhandler(PoolError)
@app.errorhandler(psycopg2.OperationalError)
def database_unavailable(exc: Exception) -> Any:
    """Pool exhausted or database unreachable: say so (503), never pretend the data is empty."""
    app.logger.warning("database unavailable: %s", exc)
    return jsonify(error="service temporarily unavailable"), 503, {"Retry-After": "10"}


@app.get("/api/problems/<slug>")
def get_problem(slug: str) -> Any:
    """The hottest endpoint: every problem page load."""
    with connection() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(PROBLEM_SQL, (slug,))
        problem = cur.fetchone()
        if problem is None:
            return jsonify(error="problem not found"), 404
        cur.execute(STATS_SQL, (problem["id"],))
        problem["stats"] = cur.fetchone()
    return jsonify(problem)


@app.get("/api/contests/<int:contest_id>/standings")
def contest_standings(contest_id: int) -> Any:
    limit = min(int(request.args.get("limit", "100")), 500)
    with connection() as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(CONTEST_SQL, (contest_id,))
        contest = cur.fetchone()
        if contest is None:
            return jsonify(error="contest not found"), 404
        if not contest["started"]:
            return jsonify(error="contest has not started", starts_at=contest["starts_at"]), 403
        cur.execute(STANDINGS_SQL, (contest_id, limit))
        standings = cur.fetchall()
    return jsonify(contest=contest["title"], standings=standings)


@app.post("/api/problems/<slug>/bookmark")
def bookmark_problem(slug: str) -> Any:
    user_id = int(request.headers["X-User-Id"])
    conn = get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO bookmarks (user_id, problem_id) "
                "SELECT %s, id FROM problems WHERE slug = %s ON CONFLICT DO NOTHING",
                (user_id, slug),
            )
        conn.commit()
    finally:
        put_conn(conn)
    return jsonify(bookmarked=True), 201
