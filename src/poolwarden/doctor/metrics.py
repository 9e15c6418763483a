"""The doctor's numbers as Prometheus metrics (prometheus-client), for ``--format prometheus``
and ``poolwarden exporter``. Names carry units; ``pg_settings_max_connections`` and
``pg_stat_activity_count{datname,state}`` match postgres_exporter's.

Every labelled family is emitted with zero-valued series for the label sets that exist but
match nothing (every state of each database, every state of each application, each PgBouncer pool),
so an alert on ``… > 0`` sees a 0, not an absent series. A scrape that cannot read the server
yields ``poolwarden_up 0`` (and the reason on stderr, DSN masked), never an HTTP error."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from poolwarden.doctor.diagnosis import HIDDEN, INCOMPLETE, Diagnosis
from poolwarden.doctor.snapshot import Snapshot
from poolwarden.errors import UsageError

#: pg_stat_activity's states of a client backend, each emitted even when no backend is in it
STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")
LEVELS = {"healthy": 0, INCOMPLETE: 1, "warning": 1, "critical": 2}


def _state(row: dict[str, Any]) -> str:
    return HIDDEN if row.get("hidden") else str(row["state"])


def families(snapshot: Snapshot, diagnosis: Diagnosis) -> Iterator[Any]:
    """The metric families of one snapshot and its diagnosis."""
    from prometheus_client.core import GaugeMetricFamily

    up = GaugeMetricFamily("poolwarden_up", "1 when the last scrape read the server, else 0.")
    up.add_metric([], 1.0)
    yield up
    max_conn = GaugeMetricFamily("pg_settings_max_connections", "Server max_connections.")
    max_conn.add_metric([], float(snapshot.settings.get("max_connections", 0)))
    yield max_conn
    rows = snapshot.activity
    states = sorted(set(STATES) | {_state(r) for r in rows})
    activity = GaugeMetricFamily("pg_stat_activity_count", "Client backends by database and state.",
                                 labels=["datname", "state"])
    counts = Counter((r["datname"], _state(r)) for r in rows)
    for db in sorted(set(snapshot.databases) | {r["datname"] for r in rows}):
        for state in states:
            activity.add_metric([db, state], float(counts[(db, state)]))
    yield activity
    by_app = GaugeMetricFamily("poolwarden_connections", "Client backends by application_name and state.",
                               labels=["application_name", "state"])
    app_counts = Counter((r["application_name"], _state(r)) for r in rows)
    for app in sorted({r["application_name"] for r in rows}):
        for state in states:
            by_app.add_metric([app, state], float(app_counts[(app, state)]))
    yield by_app
    for name, doc, value in (
        ("poolwarden_connections_in_use", "Client backends, the doctor's included.", diagnosis.in_use),
        ("poolwarden_connections_usable", "max_connections minus reserved slots.", diagnosis.usable),
        ("poolwarden_connections_utilisation_ratio", "In use over usable.", diagnosis.utilisation),
        ("poolwarden_connections_hidden", "Client backends of other roles whose state the role cannot see "
         "(GRANT pg_monitor to see them).", diagnosis.hidden_connections),
        ("poolwarden_idle_in_transaction_sessions", "Sessions idle in a transaction.",
         len(diagnosis.idle_in_transaction)),
        ("poolwarden_idle_in_transaction_max_age_seconds", "Age of the oldest idle-in-transaction session.",
         max((d["age_seconds"] for d in diagnosis.idle_in_transaction), default=0.0)),
        ("poolwarden_doctor_level", "0 healthy, 1 warning or incomplete (hidden sessions), 2 critical.",
         LEVELS[diagnosis.level]),
    ):
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric([], float(value))
        yield gauge
    suspects = GaugeMetricFamily("poolwarden_leak_suspect_idle_connections",
                                 "Aging idle connections of applications suspected of leaking.",
                                 labels=["application_name"])
    suspected = {s["application_name"]: s["idle_connections"] for s in diagnosis.leak_suspects}
    for app in sorted({r["application_name"] or "(no application_name)" for r in rows} | set(suspected)):
        suspects.add_metric([app], float(suspected.get(app, 0)))
    yield suspects
    waiting = GaugeMetricFamily("poolwarden_pgbouncer_clients_waiting", "Clients waiting in PgBouncer.",
                                labels=["database", "user"])
    for p in snapshot.pgbouncer_pools:
        waiting.add_metric([str(p.get("database")), str(p.get("user"))], float(p.get("cl_waiting") or 0))
    yield waiting


class DoctorCollector:
    """A prometheus-client collector taking one snapshot per scrape."""

    def __init__(self, observe: Callable[[], tuple[Snapshot, Diagnosis]]) -> None:
        self.observe = observe

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            snapshot, diagnosis = self.observe()
        except UsageError as exc:  # the server went away between scrapes: say so in the metrics
            print(f"poolwarden: warning: scrape failed: {exc}", file=sys.stderr, flush=True)
            up = GaugeMetricFamily("poolwarden_up", "1 when the last scrape read the server, else 0.")
            up.add_metric([], 0.0)
            yield up
            return
        yield from families(snapshot, diagnosis)


def render(snapshot: Snapshot, diagnosis: Diagnosis) -> str:
    """The Prometheus text exposition of one snapshot."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(DoctorCollector(lambda: (snapshot, diagnosis)))
    return generate_latest(registry).decode()

