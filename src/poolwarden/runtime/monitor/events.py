"""What a monitor tells you about: leaks, idle-in-transaction holders, utilisation thresholds."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from poolwarden.runtime.monitor.location import Location

__all__ = [
    "IDLE_IN_TRANSACTION",
    "LEAK",
    "LEAK_RETURNED",
    "UTILISATION",
    "UTILISATION_CLEARED",
    "PoolEvent",
    "logger",
]

LEAK = "leak"  # held past leak_threshold (once per checkout)
LEAK_RETURNED = "leak-returned"  # a reported leak came back to the pool
IDLE_IN_TRANSACTION = "idle-in-transaction"  # a transaction open, no statement for the threshold (once)
UTILISATION = "utilisation"  # checked out / max rose to a threshold
UTILISATION_CLEARED = "utilisation-cleared"  # ... and fell back below the lowest crossed one

logger = logging.getLogger("poolwarden.monitor")


@dataclass(frozen=True)
class PoolEvent:
    """One report. ``message`` is the log line; the other fields are for callbacks and tests."""

    kind: str
    pool: str
    message: str
    held_ms: float | None = None
    idle_ms: float | None = None
    location: Location | None = None
    utilisation: float | None = None
    threshold: float | None = None

    def log(self) -> None:
        """Write the event to the ``poolwarden.monitor`` logger: warnings, except returns and clears."""
        level = logging.INFO if self.kind in (LEAK_RETURNED, UTILISATION_CLEARED) else logging.WARNING
        extra = {"poolwarden_event": self.kind, "poolwarden_pool": self.pool}
        if self.location is not None and self.kind in (LEAK, IDLE_IN_TRANSACTION):
            logger.log(level, "%s\n%s", self.message, self.location.format_stack(), extra=extra)
        else:
            logger.log(level, "%s", self.message, extra=extra)
