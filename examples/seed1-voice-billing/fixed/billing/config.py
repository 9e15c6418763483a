"""Settings read from the environment once, at import.

Connection math, checked when ``billing.celery_app`` is imported (API and workers alike):
each process may hold ``db_pool_size + db_max_overflow`` connections to every database it
touches, so one tenant database sees at most
``(api_processes + worker_concurrency) * (db_pool_size + db_max_overflow)`` connections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass(frozen=True)
class Settings:
    platform_database_url: str
    broker_url: str
    retry_after_seconds: int
    db_pool_size: int
    db_max_overflow: int
    db_pool_timeout: int
    db_pool_recycle: int
    db_use_null_pool: bool
    max_tenant_engines: int
    api_processes: int
    worker_concurrency: int
    tenant_max_connections: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            platform_database_url=os.environ.get(
                "PLATFORM_DATABASE_URL", "postgresql+asyncpg://billing@localhost:5432/platform"
            ),
            broker_url=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
            retry_after_seconds=_env_int("RETRY_AFTER_SECONDS", 5),
            db_pool_size=_env_int("DB_POOL_SIZE", 2),
            db_max_overflow=_env_int("DB_MAX_OVERFLOW", 1),
            db_pool_timeout=_env_int("DB_POOL_TIMEOUT", 10),
            db_pool_recycle=_env_int("DB_POOL_RECYCLE", 1800),
            # Dark-launched PgBouncer (transaction pooling): no client-side pool at all.
            db_use_null_pool=os.environ.get("DB_USE_NULL_POOL", "false").lower() == "true",
            max_tenant_engines=_env_int("MAX_TENANT_ENGINES", 8),
            api_processes=_env_int("API_PROCESSES", 4),
            worker_concurrency=_env_int("CELERY_WORKER_CONCURRENCY", 8),
            tenant_max_connections=_env_int("TENANT_MAX_CONNECTIONS", 90),
        )

    def connections_per_tenant_database(self) -> int:
        """Worst case: every API and worker process busy on the same tenant at once."""
        if self.db_use_null_pool:
            return 0  # PgBouncer owns the server-side limit
        per_process = self.db_pool_size + self.db_max_overflow
        return (self.api_processes + self.worker_concurrency) * per_process


settings = Settings.from_env()
