"""Settings read from the environment once, at import."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # libpq URL; the Neon hostname resolves to a dozen addresses.
    database_url: str
    heartbeat_interval_seconds: float
    heartbeat_timeout_seconds: float
    # libpq applies connect_timeout to each address it tries, so one connect can take
    # connect_timeout x addresses; the listener caps the whole attempt with a deadline.
    connect_timeout_seconds: int
    connect_deadline_seconds: float
    listener_reconnect_deadline_seconds: float
    pool_timeout_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get(
                "DATABASE_URL", "postgresql://relay@localhost:5432/relay?sslmode=prefer"
            ),
            heartbeat_interval_seconds=float(os.environ.get("QUEUE_HEARTBEAT_INTERVAL", "10")),
            heartbeat_timeout_seconds=float(os.environ.get("QUEUE_HEARTBEAT_TIMEOUT", "5")),
            connect_timeout_seconds=int(os.environ.get("DB_CONNECT_TIMEOUT", "5")),
            connect_deadline_seconds=float(os.environ.get("DB_CONNECT_DEADLINE", "15")),
            listener_reconnect_deadline_seconds=float(
                os.environ.get("QUEUE_RECONNECT_DEADLINE", "120")
            ),
            pool_timeout_seconds=float(os.environ.get("DB_POOL_TIMEOUT", "5")),
        )


settings = Settings.from_env()
