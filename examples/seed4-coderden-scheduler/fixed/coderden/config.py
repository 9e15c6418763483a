"""Settings read from the environment once, at import."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    db_pool_min: int
    db_pool_max: int
    connect_timeout_seconds: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL", "postgresql://coderden@localhost/coderden"),
            broker_url=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/1"),
            # Per process: gunicorn workers and Celery children each get their own pool.
            db_pool_min=int(os.environ.get("DB_POOL_MIN", "1")),
            db_pool_max=int(os.environ.get("DB_POOL_MAX", "8")),
            connect_timeout_seconds=int(os.environ.get("DB_CONNECT_TIMEOUT", "5")),
        )


settings = Settings.from_env()
