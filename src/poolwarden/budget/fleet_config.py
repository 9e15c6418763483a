"""The ``[budget]`` keys of ``--manifests``: which workload runs which pools, and env names that set them.

```toml
[[budget.workload]]
manifest = "Deployment/web"     # required: Kind/name, namespace/Kind/name, compose/NAME, or a bare name
container = "app"               # optional: the container that runs the pools (default: the first that
                                # runs gunicorn / uvicorn / hypercorn / daphne / celery, else the first)
[[budget.workload.pool]]        # the pools each process of that container holds
name = "main"                   # pool_size (5), max_overflow (10), engines (1) as in [[budget.service.pool]]
pool_size = 10
per = "process"                 # or "thread": a pool per thread (Django, no pool: pool_size 1, max_overflow 0)

[budget.env]                    # container env vars the code reads its pool settings from
DB_POOL_SIZE = "pool_size"      # every pool of the workload; "main.pool_size" for the pool named main
DB_MAX_OVERFLOW = "max_overflow"
```

Validated strictly, as :mod:`poolwarden.budget.model` validates the rest of ``[budget]``: an unknown
key, a wrong type or an impossible value is a :class:`~poolwarden.errors.UsageError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poolwarden.budget.model import checked_count, checked_table, show_value
from poolwarden.errors import UsageError

POOL_KEYS = ("pool_size", "max_overflow", "engines")


@dataclass(frozen=True)
class PoolSpec:
    name: str
    pool_size: int = 5
    max_overflow: int = 10
    engines: int = 1
    per: str = "process"  # or "thread"


@dataclass(frozen=True)
class WorkloadMap:
    manifest: str
    where: str  # "poolwarden.toml: [budget] workload #1"
    container: str | None = None
    pools: tuple[PoolSpec, ...] = ()


@dataclass(frozen=True)
class FleetConfig:
    workloads: tuple[WorkloadMap, ...] = ()
    env: tuple[tuple[str, str | None, str], ...] = ()  # (VAR, pool name or None for every pool, key)
    env_where: str = ""


def parse_fleet_config(raw: dict[str, Any] | None, where: str = "[budget]") -> FleetConfig:
    """``[[budget.workload]]`` and ``[budget.env]`` from the budget table (None: no config)."""
    if not raw:
        return FleetConfig()
    maps = []
    workloads = raw.get("workload", [])
    if not isinstance(workloads, list):
        raise UsageError(f"{where}: 'workload' must be an array of tables")
    for i, item in enumerate(workloads):
        w = f"{where} workload #{i + 1}"
        t = checked_table(item, {"manifest": str, "container": str, "pool": list}, w, required=("manifest",))
        pools = []
        for j, pool in enumerate(t.get("pool", [])):
            pw = f"{w} pool #{j + 1}"
            p = checked_table(pool, {"name": str, "pool_size": int, "max_overflow": int, "engines": int,
                                     "per": str}, pw)
            if p.get("per", "process") not in ("process", "thread"):
                raise UsageError(f"{pw}: 'per' = {show_value(p['per'])} must be \"process\" or \"thread\"")
            pools.append(PoolSpec(
                name=p.get("name", f"pool{j + 1}"),
                pool_size=checked_count(p.get("pool_size", 5), pw, "pool_size", allow_zero=True),
                max_overflow=checked_count(p.get("max_overflow", 10), pw, "max_overflow", allow_zero=True),
                engines=checked_count(p.get("engines", 1), pw, "engines"),
                per=p.get("per", "process"),
            ))
        maps.append(WorkloadMap(t["manifest"], f"{w} ({t['manifest']})", t.get("container"), tuple(pools)))
    env_where = f"{where} env"
    env = []
    table = raw.get("env", {})
    if not isinstance(table, dict):
        raise UsageError(f"{env_where} must be a table")
    for var, target in table.items():
        if not isinstance(target, str):
            raise UsageError(f"{env_where}: '{var}' = {show_value(target)} must be a string like \"pool_size\"")
        pool, _, key = target.rpartition(".")
        if key not in POOL_KEYS:
            raise UsageError(f"{env_where}: '{var}' = {show_value(target)}: unknown pool setting {show_value(key)} "
                             f"(expected one of: {', '.join(POOL_KEYS)}, optionally after 'POOL.')")
        env.append((var, pool or None, key))
    return FleetConfig(tuple(maps), tuple(env), env_where)
