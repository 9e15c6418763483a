"""The doctor's numbers as Prometheus metrics (prometheus-client), for ``--format prometheus``
and ``poolwarden exporter``. Names carry units; ``pg_settings_max_connections`` and
``pg_stat_activity_count{datname,state}`` match postgres_exporter's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from poolwarden.doctor.diagnosis import _LEVELS, Diagnosis
from poolwarden.doctor.snapshot import Snapshot


def families(snapshot: Snapshot, diagnosis: Diagnosis) -> Iterator[Any]:
    """The metric families of one snapshot and its diagnosis."""
    from prometheus_client.core import GaugeMetricFamily

    max_conn = GaugeMetricFamily("pg_settings_max_connections", "Server max_connections.")
    max_conn.add_metric([], float(snapshot.settings.get("max_connections", 0)))
    yield max_conn
    activity = GaugeMetricFamily("pg_stat_activity_count", "Client backends by database and state.",
                                 labels=["datname", "state"])
    for (db, state), n in sorted(Counter((r["datname"], r["state"]) for r in snapshot.activity).items()):
        activity.add_metric([db, state], n)
    yield activity
    by_app = GaugeMetricFamily("poolwarden_connections", "Client backends by application_name and state.",
                               labels=["application_name", "state"])
    for (app, state), n in sorted(Counter((r["application_name"], r["state"]) for r in snapshot.activity).items()):
        by_app.add_metric([app, state], n)
    yield by_app
    for name, doc, value in (
        ("poolwarden_connections_in_use", "Client backends, the doctor's included.", diagnosis.in_use),
        ("poolwarden_connections_usable", "max_connections minus reserved slots.", diagnosis.usable),
        ("poolwarden_connections_utilisation_ratio", "In use over usable.", diagnosis.utilisation),
        ("poolwarden_idle_in_transaction_sessions", "Sessions idle in a transaction.",
         len(diagnosis.idle_in_transaction)),
        ("poolwarden_idle_in_transaction_max_age_seconds", "Age of the oldest idle-in-transaction session.",
         max((d["age_seconds"] for d in diagnosis.idle_in_transaction), default=0.0)),
        ("poolwarden_doctor_level", "0 healthy, 1 warning, 2 critical.", _LEVELS.index(diagnosis.level)),
    ):
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric([], float(value))
        yield gauge
    suspects = GaugeMetricFamily("poolwarden_leak_suspect_idle_connections",
                                 "Aging idle connections of applications suspected of leaking.",
                                 labels=["application_name"])
    for s in diagnosis.leak_suspects:
        suspects.add_metric([s["application_name"]], s["idle_connections"])
    yield suspects
    waiting = GaugeMetricFamily("poolwarden_pgbouncer_clients_waiting", "Clients waiting in PgBouncer.",
                                labels=["database", "user"])
    for w in diagnosis.pgbouncer_waiting:
        waiting.add_metric([str(w["database"]), str(w["user"])], float(w["cl_waiting"] or 0))
    yield waiting


class DoctorCollector:
    """A prometheus-client collector taking one snapshot per scrape."""

    def __init__(self, observe: Callable[[], tuple[Snapshot, Diagnosis]]) -> None:
        self.observe = observe

    def collect(self) -> Iterator[Any]:
        snapshot, diagnosis = self.observe()
        yield from families(snapshot, diagnosis)


def render(snapshot: Snapshot, diagnosis: Diagnosis) -> str:
    """The Prometheus text exposition of one snapshot."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(DoctorCollector(lambda: (snapshot, diagnosis)))
    return generate_latest(registry).decode()
