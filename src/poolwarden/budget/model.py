"""The deployment description: ``[budget]`` in poolwarden.toml or ``[tool.poolwarden.budget]``.

Every table is validated strictly: an unknown key, a missing required key, a value of the
wrong type or an unreadable duration is a :class:`~poolwarden.errors.UsageError` naming the
table and the key, so a typo never silently changes the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poolwarden.config import find, section
from poolwarden.errors import UsageError


def parse_duration(value: object, where: str) -> float:
    """Seconds in ``"10m"``, ``"1h30m"``, ``"30s"``, ``"250ms"`` or a plain number of seconds
    (see :func:`poolwarden.durations.parse_duration`)."""
    from poolwarden.durations import parse_duration as parse

    return parse(value, where)


@dataclass(frozen=True)
class Pool:
    """One kind of engine a process holds: ``engines`` of them, each with its own pool."""

    name: str
    pool_size: int = 5
    max_overflow: int = 10  # SQLAlchemy's default, when nobody said otherwise
    engines: int = 1
    scalable: bool = True  # False: not a count of engines one may change (a Django alias's connections)

    @property
    def worst_per_process(self) -> int:
        return self.engines * (self.pool_size + self.max_overflow)

    @property
    def steady_per_process(self) -> int:
        return self.engines * self.pool_size


@dataclass(frozen=True)
class Service:
    name: str
    replicas: int = 1
    processes: int = 1
    pools: tuple[Pool, ...] = ()
    steady_replicas: int | None = None  # fewer replicas outside a rollout and below the HPA's max (--manifests)

    @property
    def worst(self) -> int:
        return self.replicas * self.processes * sum(p.worst_per_process for p in self.pools)

    @property
    def steady(self) -> int:
        replicas = self.replicas if self.steady_replicas is None else self.steady_replicas
        return replicas * self.processes * sum(p.steady_per_process for p in self.pools)


@dataclass(frozen=True)
class Periodic:
    """A scheduled job: starts every ``every`` seconds (from ``offset``), runs ``duration``."""

    name: str
    every: float
    duration: float
    connections: int = 1
    offset: float = 0.0


@dataclass(frozen=True)
class PgBouncerLayer:
    default_pool_size: int = 20
    pools: int = 1  # database/user pairs
    reserve_pool_size: int = 0
    max_client_conn: int = 100
    pool_mode: str = "session"
    max_db_connections: int = 0  # 0: no limit
    pool_sizes: tuple[int, ...] = ()  # per pool, from a pgbouncer.ini's [databases] (with reserve and limit)
    origin: str = ""  # the pgbouncer.ini it was read from; "" from the config
    instances: int = 1  # PgBouncer processes at most (its pods during a rollout, from --manifests)
    steady_instances: int = 1  # ... outside a rollout: the client side's capacity

    @property
    def server_side(self) -> int:
        if self.pool_sizes:
            return self.instances * sum(self.pool_sizes)
        per_pool = self.default_pool_size + self.reserve_pool_size
        if self.max_db_connections:
            per_pool = min(per_pool, self.max_db_connections)
        return self.instances * self.pools * per_pool

    @property
    def client_capacity(self) -> int:
        """Client connections all instances accept: each has its own max_client_conn."""
        return self.steady_instances * self.max_client_conn


@dataclass(frozen=True)
class Deployment:
    max_connections: int = 100
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0
    alert_at: float = 0.7
    services: tuple[Service, ...] = ()
    periodic: tuple[Periodic, ...] = ()
    pgbouncer: PgBouncerLayer | None = None
    sources: dict[str, str] = field(default_factory=dict)  # "max_connections" -> "config" / "server" / "default"
    origin: str = ""  # where it was read, for messages: "poolwarden.toml: [budget]"; "" when not from a file
    unbounded: tuple[str, ...] = ()  # why a service may open connections without bound (from --code)

    @property
    def usable(self) -> int:
        """Connections ordinary roles may open: max_connections minus the reserved slots."""
        return self.max_connections - self.superuser_reserved_connections - self.reserved_connections


#: PostgreSQL's own ceiling for max_connections (MAX_BACKENDS)
MAX_CONNECTIONS = 262_143
#: the schedules budget models: a job runs at most every second and at least once a year; a run lasts
#: more than nothing and at most a year. Outside these, a value is a typo ("1ms" for "1m") or absurd.
MIN_EVERY, MAX_SPAN = 1.0, 365 * 86_400.0


def show_value(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters: values and keys quoted in messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def checked_table(data: dict[str, Any], keys: dict[str, type | tuple[type, ...]], where: str,
                  required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data`` when it is a table whose keys are among ``keys``, each value of its type (a bool is
    no int), with every ``required`` key; else :class:`UsageError` naming ``where`` and the key."""
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a table, not {show_value(data)}")
    for key, value in data.items():
        if key not in keys:
            raise UsageError(f"{where}: unknown key {show_value(key)} (expected one of: {', '.join(keys)})")
        expected = keys[key]
        wrong = not isinstance(value, expected) or (isinstance(value, bool) and bool not in _types(expected))
        if expected is not object and wrong:
            raise UsageError(f"{where}: '{key}' = {show_value(value)} has the wrong type")
    for key in required:
        if key not in data:
            raise UsageError(f"{where}: '{key}' is required")
    return data


def _types(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def checked_count(value: int, where: str, key: str, allow_zero: bool = False) -> int:
    """``value`` when > 0 (≥ 0 with ``allow_zero``); else :class:`UsageError` naming the key."""
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{where}: '{key}' = {value} must be {'≥ 0' if allow_zero else '> 0'}")
    return value


def _span(raw: object, where: str, key: str, low: float, *, low_open: bool = False) -> float:
    """A duration (parsed as every duration is) within [low, a year] (``(low, a year]`` if ``low_open``)."""
    seconds = parse_duration(raw, f"{where}: '{key}'")
    if not math.isfinite(seconds):
        raise UsageError(f"{where}: '{key}' = {show_value(raw)} is not a finite duration")
    if seconds < low or (low_open and seconds == low):
        bound = f"more than {low:g} s" if low_open else f"at least {low:g} s"
        raise UsageError(f"{where}: '{key}' = {show_value(raw)} is {seconds:g} s; it must be {bound} "
                         f"(budget models schedules between 1 s and 365 days)")
    if seconds > MAX_SPAN:
        raise UsageError(f"{where}: '{key}' = {show_value(raw)} is {seconds:g} s; it must be at most 365 days")
    return seconds


def parse_deployment(raw: dict[str, Any], where: str = "[budget]") -> Deployment:
    """A :class:`Deployment` from the ``budget`` table. Raises :class:`UsageError`.

    Bounds, each named with its key when broken: ``max_connections`` 1 … 262143 (PostgreSQL's
    own limit) and more than the reserved slots together; counts ≥ 0 (``pool_size``,
    ``max_overflow``, ``reserved_*``, ``reserve_pool_size``) or ≥ 1 (everything else); a periodic
    job's ``every`` from 1 s to 365 days, its ``duration`` more than 0 up to 365 days, its
    ``offset`` from 0 up to (not including) ``every``."""
    # workload, env: read by budget.fleet (--manifests)
    top = checked_table(raw, {"max_connections": int, "superuser_reserved_connections": int,
                              "reserved_connections": int, "alert_at": (int, float), "service": list,
                              "periodic": list, "pgbouncer": dict, "workload": list, "env": dict}, where)
    services = []
    for i, svc in enumerate(top.get("service", [])):
        w = f"{where} service #{i + 1}"
        s = checked_table(svc, {"name": str, "replicas": int, "processes": int, "pool": list}, w, required=("name",))
        w = f"{where} service {show_value(s['name'])}"
        pools = []
        for j, pool in enumerate(s.get("pool", [])):
            pw = f"{w} pool #{j + 1}"
            p = checked_table(pool, {"name": str, "pool_size": int, "max_overflow": int, "engines": int}, pw)
            pools.append(Pool(
                name=p.get("name", f"pool{j + 1}"),
                pool_size=checked_count(p.get("pool_size", 5), pw, "pool_size", allow_zero=True),
                max_overflow=checked_count(p.get("max_overflow", 10), pw, "max_overflow", allow_zero=True),
                engines=checked_count(p.get("engines", 1), pw, "engines"),
            ))
        services.append(Service(s["name"], checked_count(s.get("replicas", 1), w, "replicas"),
                                checked_count(s.get("processes", 1), w, "processes"), tuple(pools)))
    periodic = []
    for i, job in enumerate(top.get("periodic", [])):
        w = f"{where} periodic #{i + 1}"
        jt = checked_table(job, {"name": str, "every": object, "duration": object, "connections": int,
                                 "offset": object}, w, required=("name", "every", "duration"))
        w = f"{where} periodic {show_value(jt['name'])}"
        every = _span(jt["every"], w, "every", MIN_EVERY)
        duration = _span(jt["duration"], w, "duration", 0.0, low_open=True)
        offset = _span(jt.get("offset", 0), w, "offset", 0.0)
        if offset >= every:
            raise UsageError(f"{w}: 'offset' = {show_value(jt['offset'])} must be less than 'every' = "
                             f"{show_value(jt['every'])} (it is the schedule's phase within a period)")
        periodic.append(Periodic(jt["name"], every, duration,
                                 checked_count(jt.get("connections", 1), w, "connections"), offset))
    bouncer = None
    if "pgbouncer" in top:
        w = f"{where} pgbouncer"
        b = checked_table(top["pgbouncer"], {"default_pool_size": int, "pools": int, "reserve_pool_size": int,
                                      "max_client_conn": int}, w)
        for key, zero in (("default_pool_size", False), ("pools", False), ("reserve_pool_size", True),
                          ("max_client_conn", False)):
            if key in b:
                checked_count(b[key], w, key, allow_zero=zero)
        bouncer = PgBouncerLayer(**b)
    sources = {k: ("config" if k in top else "default")
               for k in ("max_connections", "superuser_reserved_connections", "reserved_connections")}
    alert = float(top.get("alert_at", 0.7))
    if not 0 < alert <= 1:
        raise UsageError(f"{where}: 'alert_at' = {show_value(top['alert_at'])} must be in (0, 1]")
    max_connections = top.get("max_connections", 100)
    if not 1 <= max_connections <= MAX_CONNECTIONS:
        raise UsageError(f"{where}: 'max_connections' = {max_connections} must be between 1 and {MAX_CONNECTIONS} "
                         "(PostgreSQL's limit)")
    superuser = checked_count(top.get("superuser_reserved_connections", 3), where, "superuser_reserved_connections",
                          allow_zero=True)
    reserved = checked_count(top.get("reserved_connections", 0), where, "reserved_connections", allow_zero=True)
    if superuser + reserved >= max_connections:
        raise UsageError(f"{where}: 'superuser_reserved_connections' + 'reserved_connections' = {superuser + reserved} "
                         f"must be less than 'max_connections' = {max_connections} (PostgreSQL refuses to start "
                         "otherwise)")
    return Deployment(max_connections=max_connections, superuser_reserved_connections=superuser,
                      reserved_connections=reserved, alert_at=alert, services=tuple(services),
                      periodic=tuple(periodic), pgbouncer=bouncer, sources=sources, origin=where)


def check_countable(dep: Deployment) -> None:
    """Raise :class:`UsageError` when the model counts nothing, or counts a service as holding no
    connection because it declares no pool: a verdict on such a model would be an empty "OK"."""
    origin = f"{dep.origin}: " if dep.origin else ""
    bare = [s.name for s in dep.services if not s.pools]
    if bare:
        names = ", ".join(show_value(n) for n in bare[:3]) + (f" and {len(bare) - 3} more" if len(bare) > 3 else "")
        raise UsageError(f"{origin}service {names} declares no pool, so it would count no connection: "
                         "add its [[…service.pool]] table(s) (or let --code read them, with no [[…service]] "
                         "in the config)")
    if not dep.services and not dep.periodic and dep.pgbouncer is None:
        raise UsageError(f"{origin}nothing to count: no [[…service]] with a pool, no [[…periodic]] job and no "
                         "pgbouncer table (or use --code PATH to read them from code)")


def load_deployment(path: Path) -> Deployment:
    """Read ``[budget]`` from poolwarden.toml or ``[tool.poolwarden.budget]`` from pyproject.toml."""
    raw, where = section(path, "budget")
    if raw is None:
        raise UsageError(f"{path}: no {where} table")
    return parse_deployment(raw, f"{path}: {where}")


def find_budget_config(start: Path) -> Path:
    """The nearest poolwarden.toml / pyproject.toml holding a budget section."""
    found = find(start, "budget")
    if found is None:
        raise UsageError("no budget configuration found: write [budget] in poolwarden.toml "
                         "or [tool.poolwarden.budget] in pyproject.toml, or pass --config")
    return found
