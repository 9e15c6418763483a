"""Settings read from the environment once, at import."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    validation_api_url: str
    validation_api_key: str
    batch_size: int
    partitions: int
    partition: int
    idle_pause_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            # Through PgBouncer (transaction pooling), shared with the backend.
            database_url=os.environ.get(
                "DATABASE_URL", "postgresql+asyncpg://enricher@pgbouncer:6432/jobs"
            ),
            validation_api_url=os.environ.get(
                "VALIDATION_API_URL", "https://api.mailcheck.example"
            ),
            validation_api_key=os.environ.get("VALIDATION_API_KEY", ""),
            batch_size=int(os.environ.get("ENRICHER_BATCH_SIZE", "200")),
            # Twelve daemons run side by side, each owning ids with id % 12 == partition.
            partitions=int(os.environ.get("ENRICHER_PARTITIONS", "12")),
            partition=int(os.environ.get("ENRICHER_PARTITION", "0")),
            idle_pause_seconds=float(os.environ.get("ENRICHER_IDLE_PAUSE", "30")),
        )


settings = Settings.from_env()
