"""Settings read from the environment once, at import."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    platform_database_url: str
    broker_url: str
    retry_after_seconds: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            platform_database_url=os.environ.get(
                "PLATFORM_DATABASE_URL", "postgresql+asyncpg://billing@localhost:5432/platform"
            ),
            broker_url=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
            retry_after_seconds=int(os.environ.get("RETRY_AFTER_SECONDS", "5")),
        )


settings = Settings.from_env()
