"""The Celery application (prefork workers, one task at a time per child process)."""

from __future__ import annotations

from celery import Celery

from billing.config import settings

# Refuse to start a fleet that could exceed a tenant database's max_connections when every
# process is busy on the same tenant at once.
if settings.connections_per_tenant_database() > settings.tenant_max_connections:
    raise RuntimeError(
        f"connection budget exceeded: {settings.connections_per_tenant_database()} possible "
        f"connections per tenant database > {settings.tenant_max_connections}; lower "
        "CELERY_WORKER_CONCURRENCY, API_PROCESSES or DB_POOL_SIZE/DB_MAX_OVERFLOW"
    )

celery_app = Celery("billing", broker=settings.broker_url, include=["billing.tasks"])
celery_app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="billing",
    worker_concurrency=settings.worker_concurrency,
)
