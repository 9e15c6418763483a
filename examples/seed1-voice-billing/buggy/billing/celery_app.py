"""The Celery application (prefork workers, one task at a time per child process)."""

from __future__ import annotations

from celery import Celery

from billing.config import settings

celery_app = Celery("billing", broker=settings.broker_url, include=["billing.tasks"])
celery_app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="billing",
)
