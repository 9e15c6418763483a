"""``poolwarden doctor``: a live, read-only diagnosis of a running PostgreSQL (and PgBouncer)."""

from poolwarden.doctor.diagnosis import Diagnosis, diagnose
from poolwarden.doctor.snapshot import Snapshot, take

__all__ = ["Diagnosis", "Snapshot", "diagnose", "take"]
