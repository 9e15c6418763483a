"""The deployment description: ``[budget]`` in poolwarden.toml or ``[tool.poolwarden.budget]``.

Every table is validated strictly: an unknown key, a missing required key, a value of the
wrong type or an unreadable duration is a :class:`~poolwarden.errors.UsageError` naming the
table and the key, so a typo never silently changes the arithmetic.
"""

from __future__ import annotations

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

    @property
    def worst(self) -> int:
        return self.replicas * self.processes * sum(p.worst_per_process for p in self.pools)

    @property
    def steady(self) -> int:
        return self.replicas * self.processes * sum(p.steady_per_process for p in self.pools)


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

    @property
    def server_side(self) -> int:
        return self.pools * (self.default_pool_size + self.reserve_pool_size)


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

    @property
    def usable(self) -> int:
        """Connections ordinary roles may open: max_connections minus the reserved slots."""
        return self.max_connections - self.superuser_reserved_connections - self.reserved_connections


def _table(data: dict[str, Any], keys: dict[str, type | tuple[type, ...]], where: str,
           required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a table")
    for key, value in data.items():
        if key not in keys:
            raise UsageError(f"{where}: unknown key '{key}' (expected one of: {', '.join(keys)})")
        expected = keys[key]
        wrong = not isinstance(value, expected) or (isinstance(value, bool) and expected is int)
        if expected is not object and wrong:
            raise UsageError(f"{where}: '{key}' = {value!r} has the wrong type")
    for key in required:
        if key not in data:
            raise UsageError(f"{where}: '{key}' is required")
    return data


def _positive(value: int, where: str, key: str, allow_zero: bool = False) -> int:
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{where}: '{key}' must be {'≥ 0' if allow_zero else '> 0'}")
    return value


def parse_deployment(raw: dict[str, Any], where: str = "[budget]") -> Deployment:
    """A :class:`Deployment` from the ``budget`` table. Raises :class:`UsageError`."""
    top = _table(raw, {"max_connections": int, "superuser_reserved_connections": int, "reserved_connections": int,
                       "alert_at": (int, float), "service": list, "periodic": list, "pgbouncer": dict}, where)
    services = []
    for i, svc in enumerate(top.get("service", [])):
        w = f"{where} service #{i + 1}"
        s = _table(svc, {"name": str, "replicas": int, "processes": int, "pool": list}, w, required=("name",))
        w = f"{where} service '{s['name']}'"
        pools = []
        for j, pool in enumerate(s.get("pool", [])):
            pw = f"{w} pool #{j + 1}"
            p = _table(pool, {"name": str, "pool_size": int, "max_overflow": int, "engines": int}, pw)
            pools.append(Pool(
                name=p.get("name", f"pool{j + 1}"),
                pool_size=_positive(p.get("pool_size", 5), pw, "pool_size", allow_zero=True),
                max_overflow=_positive(p.get("max_overflow", 10), pw, "max_overflow", allow_zero=True),
                engines=_positive(p.get("engines", 1), pw, "engines"),
            ))
        services.append(Service(s["name"], _positive(s.get("replicas", 1), w, "replicas"),
                                _positive(s.get("processes", 1), w, "processes"), tuple(pools)))
    periodic = []
    for i, job in enumerate(top.get("periodic", [])):
        w = f"{where} periodic #{i + 1}"
        jt = _table(job, {"name": str, "every": object, "duration": object, "connections": int, "offset": object},
                    w, required=("name", "every", "duration"))
        w = f"{where} periodic '{jt['name']}'"
        every = parse_duration(jt["every"], f"{w} every")
        if every <= 0:
            raise UsageError(f"{w}: 'every' must be > 0")
        periodic.append(Periodic(jt["name"], every, parse_duration(jt["duration"], f"{w} duration"),
                                 _positive(jt.get("connections", 1), w, "connections"),
                                 parse_duration(jt.get("offset", 0), f"{w} offset")))
    bouncer = None
    if "pgbouncer" in top:
        w = f"{where} pgbouncer"
        b = _table(top["pgbouncer"], {"default_pool_size": int, "pools": int, "reserve_pool_size": int,
                                      "max_client_conn": int}, w)
        bouncer = PgBouncerLayer(**b)
    sources = {k: ("config" if k in top else "default")
               for k in ("max_connections", "superuser_reserved_connections", "reserved_connections")}
    alert = float(top.get("alert_at", 0.7))
    if not 0 < alert <= 1:
        raise UsageError(f"{where}: 'alert_at' must be in (0, 1]")
    return Deployment(max_connections=top.get("max_connections", 100),
                      superuser_reserved_connections=top.get("superuser_reserved_connections", 3),
                      reserved_connections=top.get("reserved_connections", 0), alert_at=alert,
                      services=tuple(services), periodic=tuple(periodic), pgbouncer=bouncer, sources=sources)


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
