"""The arithmetic: worst case and steady state per service and in total, the periodic jobs'
peak overlap over a day of schedule (computed in :mod:`poolwarden.budget.periodic`), the largest
sizes that still fit, and a verdict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from poolwarden.budget.model import Deployment, check_countable
from poolwarden.budget.periodic import DAY, PeriodicPeak, periodic_peak

__all__ = ["DAY", "BudgetReport", "PeriodicPeak", "ServiceLine", "compute", "periodic_peak", "render_text"]


@dataclass(frozen=True)
class ServiceLine:
    name: str
    replicas: int
    processes: int
    worst: int
    steady: int
    max_replicas: int  # the most replicas that fit, all else unchanged
    max_processes: int
    max_engines: dict[str, int]  # pool name -> most engines per process that fit


@dataclass
class BudgetReport:
    """Everything ``poolwarden budget`` prints; ``ok`` is False when it should fail CI."""

    usable: int
    max_connections: int
    reserved: int
    alert_at: float
    services: list[ServiceLine]
    periodic: PeriodicPeak
    worst_total: int
    steady_total: float
    utilisation: float  # steady_total / usable
    fits: bool
    over_alert: bool
    pgbouncer: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    workloads: list[dict[str, Any]] = field(default_factory=list)  # --manifests: see budget.fleet.workload_rows
    no_pools: list[str] = field(default_factory=list)  # --manifests: workloads that hold no database pool
    fleet_notes: list[str] = field(default_factory=list)  # --manifests: documents skipped and why

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def compute(dep: Deployment) -> BudgetReport:
    """The budget of ``dep``: every figure ``poolwarden budget`` reports. Raises
    :class:`~poolwarden.errors.UsageError` when the model counts nothing (see
    :func:`~poolwarden.budget.model.check_countable`)."""
    check_countable(dep)
    usable = dep.usable
    peak = periodic_peak(dep.periodic)
    services_worst = sum(s.worst for s in dep.services)
    worst_total = services_worst + peak.connections
    steady_total = sum(s.steady for s in dep.services) + peak.average
    lines = []
    for svc in dep.services:
        room = usable - (worst_total - svc.worst)  # what this service may use, others unchanged
        per_process = sum(p.worst_per_process for p in svc.pools)
        max_replicas = room // (svc.processes * per_process) if per_process else svc.replicas
        max_processes = room // (svc.replicas * per_process) if per_process else svc.processes
        max_engines = {}
        for pool in (p for p in svc.pools if p.scalable):
            per_engine = svc.replicas * svc.processes * (pool.pool_size + pool.max_overflow)
            others = svc.worst - svc.replicas * svc.processes * pool.worst_per_process
            max_engines[pool.name] = (room - others) // per_engine if per_engine else pool.engines
        lines.append(ServiceLine(svc.name, svc.replicas, svc.processes, svc.worst, svc.steady,
                                 max(0, max_replicas), max(0, max_processes),
                                 {k: max(0, v) for k, v in max_engines.items()}))
    problems: list[str] = [f"unbounded: {why}" for why in dep.unbounded]
    bouncer_info = None
    if dep.pgbouncer is not None:
        b = dep.pgbouncer
        server = b.server_side + peak.connections
        bouncer_info = {"server_side": b.server_side, "client_side_worst": services_worst,
                        "max_client_conn": b.max_client_conn, "pools": b.pools,
                        "default_pool_size": b.default_pool_size, "reserve_pool_size": b.reserve_pool_size,
                        "pool_mode": b.pool_mode, "max_db_connections": b.max_db_connections,
                        "origin": b.origin or "config", "pool_sizes": list(b.pool_sizes),
                        "instances": b.instances, "client_capacity": b.client_capacity}
        fits = server <= usable
        if not fits:
            problems.append(f"PgBouncer may open {b.server_side} server connections "
                            f"({_bouncer_pools(bouncer_info)})"
                            f"{f' + {peak.connections} for periodic jobs' if peak.connections else ''}"
                            f" > {usable} usable")
        if services_worst > b.client_capacity:
            problems.append(f"clients may open {services_worst} connections to PgBouncer > max_client_conn "
                            f"{b.max_client_conn}"
                            + (f" x {b.steady_instances} instances" if b.steady_instances != 1 else ""))
        worst_for_server = server
    else:
        fits = worst_total <= usable
        worst_for_server = worst_total
        if not fits:
            problems.append(f"worst case {worst_total} connections > {usable} usable")
    fits = fits and not dep.unbounded
    utilisation = steady_total / usable if usable > 0 else math.inf
    over_alert = utilisation > dep.alert_at
    if over_alert:
        problems.append(f"steady state {steady_total:.0f} connections is {utilisation:.0%} of usable, "
                        f"past alert_at {dep.alert_at:.0%}")
    if usable <= 0:
        problems.append(f"no usable connections: max_connections {dep.max_connections} − reserved "
                        f"{dep.max_connections - usable}")
    return BudgetReport(usable=usable, max_connections=dep.max_connections, reserved=dep.max_connections - usable,
                        alert_at=dep.alert_at, services=lines, periodic=peak, worst_total=worst_for_server,
                        steady_total=steady_total, utilisation=utilisation, fits=fits, over_alert=over_alert,
                        pgbouncer=bouncer_info, problems=problems, sources=dict(dep.sources))


def render_text(report: BudgetReport) -> str:
    """The verdict first, then the evidence."""
    out: list[str] = []
    pct = report.worst_total / report.usable if report.usable > 0 else math.inf
    if report.ok:
        out.append(f"OK: worst case {report.worst_total} of {report.usable} usable connections ({pct:.0%}); "
                   f"steady state {report.steady_total:.0f} ({report.utilisation:.0%}, "
                   f"alert at {report.alert_at:.0%}).")
    else:
        out.append("OVER BUDGET: " + "; ".join(report.problems) + ".")
    out.append(f"usable = max_connections {report.max_connections} − {report.reserved} reserved = {report.usable}"
               f"  (max_connections from {report.sources.get('max_connections', 'default')})")
    fleet = {row["workload"] for row in report.workloads}
    services = [s for s in report.services if s.name not in fleet]
    if services:
        out.append("")
        out.append(f"{'service':<20} {'replicas':>8} {'procs':>6} {'worst':>7} {'steady':>7}   fits at most")
        for s in services:
            engines = ", ".join(f"{k}: {v} engines" for k, v in s.max_engines.items())
            out.append(f"{s.name:<20} {s.replicas:>8} {s.processes:>6} {s.worst:>7} {s.steady:>7}   "
                       f"{s.max_replicas} replicas or {s.max_processes} processes"
                       + (f" ({engines})" if engines else ""))
    out.extend(_workloads_text(report))
    p = report.periodic
    if p.connections:
        hh, mm = divmod(int(p.at_seconds // 60), 60)
        out.append("")
        noun = "connection" if p.connections == 1 else "connections"
        if p.exact:
            out.append(f"periodic jobs: peak {p.connections} {noun} at {hh:02d}:{mm:02d} "
                       f"({', '.join(p.jobs)}); {p.average:.1f} on average over the day")
        else:
            out.append(f"periodic jobs: at most {p.connections} {noun} at once (an upper bound: every job at its "
                       f"most together; too many runs a day to place them); {p.average:.1f} on average over the day")
    if report.pgbouncer:
        b = report.pgbouncer
        out.append("")
        capacity = f" x {b['client_capacity'] // b['max_client_conn']} instances" \
            if b.get("client_capacity", b["max_client_conn"]) != b["max_client_conn"] else ""
        out.append(f"PgBouncer: server side {b['server_side']} ({_bouncer_pools(b)}); clients up to "
                   f"{b['client_side_worst']} "
                   f"of max_client_conn {b['max_client_conn']}{capacity}"
                   + (f"; pool_mode {b['pool_mode']} ({b['origin']})" if b.get("origin", "config") != "config" else ""))
    if report.fleet_notes:
        out.append("")
        out.append("manifests:")
        out.extend(f"  {line}" for line in report.fleet_notes)
    return "\n".join(out)


def _bouncer_pools(b: dict[str, Any]) -> str:
    """How the server side adds up: ``2 pools x 25``, or a pgbouncer.ini's ``pools 35 + 15``."""
    instances = f"{b['instances']} instances × " if b.get("instances", 1) != 1 else ""
    if b.get("pool_sizes"):
        return instances + "pools " + " + ".join(str(n) for n in b["pool_sizes"])
    return f"{instances}{b['pools']} pools × {b['default_pool_size'] + b['reserve_pool_size']}"


def _workloads_text(report: BudgetReport) -> list[str]:
    """The --manifests table: per workload, steady / HPA max / rollout pods, processes x pools, and sources."""
    if not report.workloads and not report.no_pools:
        return []
    out = [""]
    if report.workloads:
        out.append(f"{'workload':<28} {'replicas':>8} {'HPA max':>7} {'rollout':>7} {'procs×conns':>11} "
                   f"{'worst':>7} {'steady':>7}   fits at most")
        for w in report.workloads:
            hpa = "-" if w["hpa_max"] is None else str(w["hpa_max"])
            shape = f"{w['processes']}×{w['per_process_worst']}"
            out.append(f"{w['workload']:<28} {w['replicas']:>8} {hpa:>7} {w['rollout_pods']:>7} {shape:>11} "
                       f"{w['worst']:>7} {w['steady']:>7}   {w['max_replicas']} replicas (during a rollout, "
                       f"against {w['max_replicas_against']})")
        for w in report.workloads:
            src = w["sources"]
            out.append(f"  {w['workload']}: replicas {w['replicas']} from {src['replicas']}")
            if src["hpa_max"]:
                out.append(f"    HPA max {w['hpa_max']} from {src['hpa_max']}")
            out.append(f"    rollout: {src['surge']}")
            out.append(f"    processes: {src['processes']}")
            out.extend(f"    pools: {line}" for line in src["pools"])
    if report.no_pools:
        out.append("no database pools: " + ", ".join(report.no_pools))
    return out
