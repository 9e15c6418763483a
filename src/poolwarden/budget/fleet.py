"""``budget --manifests``: the workloads of a fleet as services of the budget, and the per-workload report.

A workload's pods each run one container that holds pools (the one named in the config, else the
first whose command is a gunicorn / uvicorn / hypercorn / daphne / celery worker, else the first):
its processes x the pools each process holds. Which pools:

1. ``[[budget.workload]]`` naming the workload (see :mod:`poolwarden.budget.fleet_config`), with
   ``[budget.env]`` values from the container's env overriding ``pool_size`` / ``max_overflow`` /
   ``engines``;
2. else, with ``--code``, the pools found in files under the top-level package of the module the
   command runs (:mod:`poolwarden.budget.fleet_code`);
3. else none: the workload is listed under "no database pools". One that plausibly uses the
   database (it runs one of those servers, or its env names a database URL or a ``[budget.env]``
   variable) is an error instead, never counted as zero.

Counts: steady = replicas x processes x Σ pool_size; worst = pods during a rollout at the HPA's
max (maxReplicas + surge) x processes x Σ (pool_size + max_overflow), x threads for ``per = "thread"``
pools. A pgbouncer.ini replaces ``[budget.pgbouncer]``: its server side is counted against
max_connections, every workload's worst against its ``max_client_conn``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poolwarden.budget.containers import SERVERS, Runner, runner
from poolwarden.budget.fleet_code import code_pools
from poolwarden.budget.fleet_config import FleetConfig, PoolSpec
from poolwarden.budget.manifests import Fleet
from poolwarden.budget.model import Deployment, PgBouncerLayer, Pool, Service
from poolwarden.budget.workload import Container, Workload
from poolwarden.check.display import display_path
from poolwarden.dsn import mask_text
from poolwarden.errors import UsageError
from poolwarden.pgbouncer_ini import PgBouncerIni

if TYPE_CHECKING:
    from poolwarden.budget.code import CodeFacts
    from poolwarden.budget.report import BudgetReport

_DB_ENV_HINTS = ("DATABASE", "_DSN", "PGHOST", "POSTGRES", "DB_HOST", "DB_URL", "SQLALCHEMY")
_SERVER_IMAGES = ("postgres", "pgbouncer", "odyssey", "pgpool")


@dataclass(frozen=True)
class Counted:
    """A workload as counted: what it runs and the pools each process holds, with sources."""

    workload: Workload
    container: Container
    runner: Runner
    pools: tuple[Pool, ...]
    pool_sources: tuple[str, ...]

    @property
    def per_process_worst(self) -> int:
        return sum(p.worst_per_process for p in self.pools)

    def service(self) -> Service:
        w = self.workload
        return Service(w.id, w.rollout_pods, self.runner.processes, self.pools, steady_replicas=w.replicas.value)


@dataclass
class FleetResult:
    counted: list[Counted] = field(default_factory=list)
    no_pools: list[str] = field(default_factory=list)  # "compose/redis (image redis:7)"
    unbounded: list[str] = field(default_factory=list)  # workloads whose connections nothing bounds
    notes: list[str] = field(default_factory=list)


def _match(fleet: Fleet, config: FleetConfig) -> dict[str, Any]:
    by_id = {w.id: w for w in fleet.workloads}
    found: dict[str, Any] = {}
    for mapping in config.workloads:
        key = mapping.manifest
        hits = [w for w in fleet.workloads
                if key in (w.id, w.name, f"{w.kind}/{w.name}") or w.id.endswith(f"/{key}")]
        if key in by_id:
            hits = [by_id[key]]
        if not hits:
            raise UsageError(f"{mapping.where}: no workload {key!r} in the manifests (they hold: "
                             f"{', '.join(sorted(by_id)[:6]) or 'none'})")
        if len(hits) > 1:
            raise UsageError(f"{mapping.where}: {key!r} names {len(hits)} workloads "
                             f"({', '.join(w.id for w in hits[:4])}): write Kind/name")
        if hits[0].id in found:
            raise UsageError(f"{mapping.where}: {hits[0].id} is mapped twice")
        found[hits[0].id] = mapping
    return found


def _container(workload: Workload, name: str | None, where: str, cpus: int | None) -> tuple[Container, Runner]:
    if not workload.containers:
        raise UsageError(f"{workload.path}: {workload.id} has no containers")
    if name is not None:
        for c in workload.containers:
            if c.name == name:
                return c, runner(c, cpus=cpus)
        raise UsageError(f"{where}: {workload.id} has no container {name!r}")
    runners = [(c, runner(c, cpus=cpus)) for c in workload.containers]
    return next(((c, r) for c, r in runners if r.program is not None), runners[0])


def _env_pools(specs: tuple[PoolSpec, ...], container: Container, config: FleetConfig,
               where: str) -> tuple[list[PoolSpec], list[str]]:
    pools, sources = list(specs), [where]
    for var, pool_name, key in config.env:
        value = container.env.get(var)
        if value is None:
            continue
        text = (value.value or "").strip()
        if value.value is None or not text.isdigit() or len(text) > 9:
            shown = value.why or f"{mask_text(value.value or '')[:60]!r} is not a count"
            sources.append(f"{var} not literal ({value.source}: {shown}): {key} from the config")
            continue
        targets = [p for p in pools if pool_name in (None, p.name)]
        if not targets:
            raise UsageError(f"{config.env_where}: '{var}' sets pool {pool_name!r}, which {where} does not declare")
        if key == "engines" and int(text) < 1:
            raise UsageError(f"{value.source}: {var}={text}: engines must be ≥ 1")
        pools = [_set(p, key, int(text)) if p in targets else p for p in pools]
        sources.append(f"{key} {text} from {var} ({value.source})")
    return pools, sources


def _describe(spec: PoolSpec, threads: int) -> str:
    engines = f"{spec.engines} x " if spec.engines != 1 else ""
    per = f" per thread x {threads} threads" if spec.per == "thread" else ""
    return f"{spec.name} {engines}({spec.pool_size} + {spec.max_overflow}){per}"


def _set(spec: PoolSpec, key: str, value: int) -> PoolSpec:
    if key == "pool_size":
        return dataclasses.replace(spec, pool_size=value)
    if key == "max_overflow":
        return dataclasses.replace(spec, max_overflow=value)
    return dataclasses.replace(spec, engines=value)


def _runs_pgbouncer(container: Container) -> bool:
    image = container.image.rpartition("/")[2].lower()
    return "pgbouncer" in image or any(w.rpartition("/")[2] == "pgbouncer" for w in container.words[:2])


def _plausible(workload: Workload, container: Container, runner_: Runner, config: FleetConfig) -> str | None:
    if any(mark in container.image.rpartition("/")[2].lower() for mark in _SERVER_IMAGES):
        return None
    if runner_.program in SERVERS or runner_.program == "celery":
        return f"it runs {runner_.program}"
    names = {var for var, _, _ in config.env}
    for var in container.env:
        if var in names or any(hint in var.upper() for hint in _DB_ENV_HINTS):
            return f"its env has {var}"
    return None


def apply_fleet(dep: Deployment, fleet: Fleet, config: FleetConfig, facts: CodeFacts | None = None, *,
                cpus: int | None = None) -> tuple[Deployment, FleetResult]:
    """``dep`` with a service per workload that holds pools, and the PgBouncer of a pgbouncer.ini."""
    result = FleetResult()
    mapped = _match(fleet, config)
    bouncers = [w for w in fleet.workloads if w.id not in mapped and any(_runs_pgbouncer(c) for c in w.containers)]
    for w in fleet.workloads:
        mapping = mapped.get(w.id)
        container, run = _container(w, mapping.container if mapping else None,
                                    mapping.where if mapping else w.path, cpus)
        if mapping is not None:
            specs, sources = _env_pools(mapping.pools, container, config, mapping.where)
            if not specs:
                raise UsageError(f"{mapping.where}: declares no [[…workload.pool]]: {w.id} would count no connection")
        else:
            specs, sources, unbounded = code_pools(run, facts)
            result.unbounded.extend(f"{w.id}: {why}" for why in unbounded)
        if not specs:
            why = _plausible(w, container, run, config)
            if why is not None:
                hint = "give --code PATH (engines under its package)" if facts is None else \
                    f"--code found no engine under package {run.module!r}" if run.module else \
                    "its command names no app module"
                raise UsageError(f"{w.path}: {w.id} plausibly uses the database ({why}) but no pool is matched to "
                                 f"it: map it in [[budget.workload]] (manifest = {w.id!r}) or {hint}")
            result.no_pools.append(w.id + (f" (image {container.image})" if container.image else ""))
            continue
        pools = tuple(Pool(s.name, s.pool_size, s.max_overflow,
                           s.engines * (run.threads if s.per == "thread" else 1)) for s in specs)
        sources = [", ".join(_describe(s, run.threads) for s in specs) + " per process", *sources]
        result.counted.append(Counted(w, container, run, pools, tuple(sources)))
    services = (*dep.services, *(c.service() for c in result.counted))
    dep = dataclasses.replace(dep, services=services, unbounded=(*dep.unbounded, *result.unbounded))
    if fleet.pgbouncer is not None:
        if dep.pgbouncer is not None:
            result.notes.append(f"{fleet.pgbouncer.where} replaces the config's [budget.pgbouncer]")
        layer = pgbouncer_layer(fleet.pgbouncer)
        if len(bouncers) == 1:  # PgBouncer runs in the fleet: every pod opens its own server pools
            pods = bouncers[0]
            layer = dataclasses.replace(layer, instances=pods.rollout_pods, steady_instances=pods.replicas.value)
            result.notes.append(f"PgBouncer runs as {pods.id}: server side x {pods.rollout_pods} pods at most "
                                f"(during a rollout), client capacity x {pods.replicas.value} "
                                f"({pods.replicas.source})")
        elif len(bouncers) > 1:
            result.notes.append(f"PgBouncer runs as {', '.join(b.id for b in bouncers)}: counted as one "
                                f"instance of {fleet.pgbouncer.where}; declare the others in the config")
        dep = dataclasses.replace(dep, pgbouncer=layer)
    elif bouncers:
        result.notes.append(f"{', '.join(b.id for b in bouncers)} runs PgBouncer: give its pgbouncer.ini to "
                            "--manifests to count its server side")
    result.notes.extend(fleet.skipped)
    return dep, result


def _fits(surge: Any, pods: int) -> int:
    """The most replicas ``r`` with ``r + surge(r) <= pods`` (both grow with ``r``: a binary search)."""
    low, high = 0, max(0, pods)
    while low < high:
        mid = (low + high + 1) // 2
        if mid + surge.pods(mid) <= pods:
            low = mid
        else:
            high = mid - 1
    return low


def workload_rows(result: FleetResult, report: BudgetReport) -> list[dict[str, Any]]:
    """Per workload: steady / HPA max / rollout, processes x pools, worst, steady, the most replicas that fit,
    and where every number came from."""
    rows = []
    bouncer = report.pgbouncer
    for c in result.counted:
        w, service = c.workload, c.service()
        per_pod = c.runner.processes * c.per_process_worst
        if bouncer is not None:
            room = bouncer["client_capacity"] - (bouncer["client_side_worst"] - service.worst)
            against = "max_client_conn"
        else:
            room = report.usable - (report.worst_total - service.worst)
            against = "usable max_connections"
        max_replicas = _fits(w.surge, room // per_pod) if per_pod else w.scaled_to.value
        rows.append({
            "workload": w.id, "kind": w.kind, "file": w.path, "container": c.container.name,
            "replicas": w.replicas.value, "hpa_max": w.hpa_max.value if w.hpa_max else None,
            "rollout_pods": w.rollout_pods, "processes": c.runner.processes, "threads": c.runner.threads,
            "pools": [{"name": p.name, "pool_size": p.pool_size, "max_overflow": p.max_overflow,
                       "engines": p.engines} for p in c.pools],
            "per_process_worst": c.per_process_worst, "worst": service.worst, "steady": service.steady,
            "max_replicas": max(0, max_replicas), "max_replicas_against": against,
            "sources": {"replicas": w.replicas.source, "hpa_max": w.hpa_max.source if w.hpa_max else None,
                        "surge": f"{w.surge.describe()} of {w.scaled_to.value}: +{w.surge.pods(w.scaled_to.value)} "
                                 f"pods ({w.surge.source})",
                        "processes": f"{c.runner.text}", "pools": list(c.pool_sources)},
        })
    return rows


def _masked(value: Any) -> Any:
    """``value`` with every string passed through :func:`~poolwarden.dsn.mask_text`: a manifest may put a
    DSN anywhere (an env value read as a count, a name), and the report never prints a password."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def attach(result: FleetResult, report: BudgetReport) -> None:
    """Put the per-workload rows, the workloads without pools and the notes in ``report`` (masked)."""
    report.workloads = _masked(workload_rows(result, report))
    report.no_pools = _masked(list(result.no_pools))
    report.fleet_notes = _masked(list(result.notes))
    report.problems = _masked(report.problems)
    report.services = [dataclasses.replace(s, name=mask_text(s.name)) for s in report.services]


def with_manifests(dep: Deployment, paths: tuple[str, ...], code_paths: tuple[str, ...], config_file: Path | None,
                   cpus: int | None) -> tuple[Deployment, FleetResult, CodeFacts | None]:
    """``budget --manifests``: read the manifests under ``paths`` and the ``[budget]`` workload keys of
    ``config_file`` (default: the nearest config), scan ``code_paths`` when given, and count the fleet.
    Returns the deployment, the fleet's result (for :func:`attach`) and the code facts (or None)."""
    import os

    from poolwarden.budget.fleet_config import parse_fleet_config
    from poolwarden.budget.manifests import read_fleet
    from poolwarden.config import find, section

    try:
        import yaml  # noqa: F401
    except ImportError:
        raise UsageError("--manifests reads YAML with PyYAML: pip install 'poolwarden[budget]'") from None
    path = config_file or find(Path.cwd(), "budget")
    config = FleetConfig()
    if path is not None:
        raw, where = section(path, "budget")
        config = parse_fleet_config(raw if isinstance(raw, dict) else None, f"{display_path(str(path))}: {where}")
    try:
        fleet = read_fleet(list(paths))
        facts = None
        if code_paths:
            from poolwarden.budget.code import scan

            for target in code_paths:
                if not os.path.exists(target):
                    raise UsageError(f"--code {target}: no such file or directory")
            facts = scan(list(code_paths), cpus=cpus)
        dep, result = apply_fleet(dep, fleet, config, facts, cpus=cpus)
        if not dep.services and not dep.periodic and dep.pgbouncer is None and not code_paths:
            held = f" (no database pools: {', '.join(result.no_pools[:4])})" if result.no_pools else ""
            raise UsageError(f"nothing to count: --manifests read {fleet.files} file(s), {fleet.documents} "
                             f"document(s), and no workload holds a database pool{held}: map one in "
                             "[[budget.workload]] or give --code PATH")
    except UsageError as exc:  # a message may quote a value of a manifest: never a password
        raise UsageError(mask_text(str(exc))) from None
    return dep, result, facts


__all__ = ["FleetResult", "apply_fleet", "attach", "with_manifests", "workload_rows"]


def pgbouncer_layer(ini: PgBouncerIni) -> PgBouncerLayer:
    """The budget's view of a pgbouncer.ini: its server pools and its client capacity."""
    s = ini.settings
    return PgBouncerLayer(default_pool_size=s["default_pool_size"], pools=max(1, len(ini.databases)),
                          reserve_pool_size=s["reserve_pool_size"], max_client_conn=s["max_client_conn"],
                          pool_mode=ini.pool_mode, max_db_connections=s["max_db_connections"],
                          pool_sizes=tuple(size for _, size, _ in ini.databases), origin=ini.where)
