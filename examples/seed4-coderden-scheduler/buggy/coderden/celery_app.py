"""Celery worker and beat schedule for CoderDen's periodic jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

from coderden.config import settings
from coderden.db import close_pool

celery_app = Celery("coderden", broker=settings.broker_url, include=["coderden.tasks"])
celery_app.conf.update(
    timezone="UTC",
    worker_concurrency=14,
    beat_schedule={
        "process-notifications": {
            "task": "coderden.process_notifications",
            "schedule": timedelta(minutes=1),
        },
        "sync-contest-standings": {
            "task": "coderden.sync_contest_standings",
            "schedule": timedelta(minutes=2),
        },
        "update-problem-stats": {
            "task": "coderden.update_problem_stats",
            "schedule": timedelta(minutes=5),
        },
        "recompute-streaks": {
            "task": "coderden.recompute_streaks",
            "schedule": timedelta(minutes=5),
        },
        "refresh-leaderboard": {
            "task": "coderden.refresh_leaderboard",
            "schedule": timedelta(minutes=10),
        },
        "purge-expired-sessions": {
            "task": "coderden.purge_expired_sessions",
            "schedule": timedelta(minutes=10),
        },
    },
)


@worker_process_shutdown.connect
def _close_pool(**_: Any) -> None:
    close_pool()
