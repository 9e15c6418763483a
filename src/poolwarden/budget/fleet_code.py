"""Which of the pools ``--code`` found a workload's container runs (``budget --manifests --code``).

The command names an app module (``gunicorn app.main:app``, ``uvicorn app.main:app``,
``celery -A app.worker``); the container runs the pools made in the modules that module imports,
directly or not — the same rule as ``--code`` alone
(:func:`poolwarden.budget.from_code.reached_modules`). When the app module is not among the
modules read, or imports none of the pools' modules (an app factory importing by string), its
top-level package (``app``) runs the pools found in files under a directory of that name, or in
``app.py``. Migration and one-shot engines (Alembic's ``env.py``, scripts,
``__main__`` blocks) never count. Django's settings are loaded by name, not imported: their
``DATABASES`` count in the containers whose app module is in the settings' top-level package:

- engine and pool constructors (SQLAlchemy, psycopg_pool, poolwarden's own): per process,
  SQLAlchemy's defaults (5 + 10) where not literal; unpooled ones are listed, not counted;
- Django ``DATABASES`` entries (PostgreSQL) of settings modules there, per alias: with the native
  pool, ``min_size`` steady and ``max_size`` worst per process; without it, one connection per
  thread (kept between requests when ``CONN_MAX_AGE`` ≠ 0, else steady 0). Under an ASGI server a
  thread runs each concurrent request: without the native pool that is unbounded, and reported so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poolwarden.budget.containers import Runner
from poolwarden.budget.fleet_config import PoolSpec

if TYPE_CHECKING:
    from poolwarden.budget.code import CodeFacts


def _under(where: str, package: str) -> bool:
    parts = where.rpartition(":")[0].replace("\\", "/").split("/")
    return package in parts[:-1] or parts[-1] == f"{package}.py"


def code_pools(runner: Runner, facts: CodeFacts | None) -> tuple[list[PoolSpec], list[str], list[str]]:
    """(pools per process or thread, a line per pool saying where it came from, why it is unbounded)."""
    if facts is None or runner.module is None:
        return [], [], []
    from poolwarden.budget.from_code import reached_modules

    reached = reached_modules(facts, runner.module, runner.program)
    package = runner.module.split(".")[0]
    if reached is not None and not any(p.module in reached for p in facts.pools if not p.one_shot):
        reached = None  # it imports none of them: imported dynamically, perhaps (an app factory's strings)
    if reached is not None:
        origin = f"--code, imported by {runner.module}"

        def runs(where: str, module: str) -> bool:
            return module in reached or not module  # a pool whose module is unknown: counted (worst case)
    else:
        origin = f"--code, package {package!r} of {runner.module}"

        def runs(where: str, module: str) -> bool:
            return _under(where, package)
    specs, sources, unbounded = [], [], []
    for found in facts.pools:
        if found.one_shot or not runs(found.where, found.module):
            continue
        if found.unpooled:
            sources.append(f"{found.name} at {found.where} is unpooled: not counted")
            continue
        size = found.pool_size if found.pool_size is not None and found.pool_size > 0 else 5
        overflow = found.max_overflow if found.max_overflow is not None and found.max_overflow >= 0 else 10
        specs.append(PoolSpec(f"{found.name}@{found.where}", size, overflow))
        literal = "" if found.pool_size is not None else " (not literal: SQLAlchemy's defaults)"
        sources.append(f"{found.name} at {found.where}: {size} + {overflow}{literal}, {origin}")
    aliases: dict[str, PoolSpec] = {}
    for db in facts.databases:
        if not db.postgres or not _under(db.where, package):  # settings: loaded by name, not imported
            continue
        name = f"DATABASES[{db.alias!r}]@{db.where}"
        if db.pooled:
            low, high, how = db.pool_bounds()
            spec = PoolSpec(name, low, high - low)
            sources.append(f"{name}: native pool, per process: {how}, {origin}")
        else:
            steady = 1 if db.persistent else 0
            spec = PoolSpec(name, steady, 1 - steady, per="thread")
            sources.append(f"{name}: no pool, one connection per thread"
                           f"{' kept open (CONN_MAX_AGE)' if steady else ''}, {origin}")
            if runner.asgi:
                unbounded.append(f"{name} runs under ASGI ({runner.program}) without Django's native pool: "
                                 "a connection per concurrent request")
        known = aliases.get(db.alias)  # several settings modules: the largest bound
        if known is None or spec.pool_size + spec.max_overflow > known.pool_size + known.max_overflow:
            aliases[db.alias] = spec
    return [*specs, *aliases.values()], sources, unbounded
