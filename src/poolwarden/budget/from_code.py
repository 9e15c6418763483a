"""``budget --code``: what the scan found (:func:`poolwarden.budget.code.scan`) made into the
deployment's services and periodic jobs, with a line per number saying where it came from."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from poolwarden.budget.code import CodeFacts, CodePool
from poolwarden.budget.commands import Command
from poolwarden.budget.model import MAX_SPAN, MIN_EVERY, Deployment, Periodic, Pool, Service
from poolwarden.budget.serving import django_services, engine_services
from poolwarden.budget.values import Number
from poolwarden.dsn import mask_text
from poolwarden.errors import UsageError


def _engines(pools: list[CodePool], limit: int = 3) -> str:
    shown = ", ".join(f"{p.name} at {p.where}" for p in pools[:limit])
    return shown + (f" and {len(pools) - limit} more" if len(pools) > limit else "")


#: each library's pool bounds when the code leaves them out: (size, overflow, whose default)
LIBRARY_DEFAULTS = {
    "sqlalchemy": (5, 10, "SQLAlchemy's default"),
    "flask_sqlalchemy": (5, 10, "SQLAlchemy's default, as Flask-SQLAlchemy passes none"),
    "asyncpg": (10, 0, "asyncpg's default max_size"),
    "psycopg_pool": (4, 0, "psycopg_pool's default max_size = min_size = 4"),
    "fixed": (5, 0, "the default"),
}


def _bound(number: Number | None, default: int, default_text: str, key: str, least: int) -> tuple[int, str, bool]:
    """(value, how it was found, literal at the call) of one pool argument."""
    if number is None:
        return default, f"{key} {default} ({default_text}: not given)", False
    if number.value is None:
        env = f"; env {number.env} changes it" if number.env else ""
        return default, (f"{key} {default} ({default_text}: `{number.text}` at {number.where} is not literal"
                         f"{env})"), False
    if number.value < least:
        return default, (f"{key} {default} ({default_text} instead of {number.describe()}, which bounds nothing: "
                         "SQLAlchemy reads pool_size 0 and a negative max_overflow as no limit)"), False
    if number.env is None and number.text == "":
        return number.value, f"{key} {number.value}", True
    return number.value, f"{key} {number.describe()}", False


def _code_pools(pooled: list[CodePool]) -> tuple[list[Pool], list[str]]:
    """The pooled engines found in code as pools, each library's defaults where the value is not
    literal (as far as settings go), and a line for each saying where every number came from."""
    pools, notes = [], []
    for i, found in enumerate(pooled):
        size_default, overflow_default, whose = LIBRARY_DEFAULTS.get(found.library, LIBRARY_DEFAULTS["sqlalchemy"])
        size_n = found.size if found.size is not None else (
            Number(found.pool_size, found.where) if found.pool_size is not None else None)
        overflow_n = found.overflow if found.overflow is not None else (
            Number(found.max_overflow, found.where) if found.max_overflow is not None else None)
        size, size_text, size_code = _bound(size_n, size_default, whose, "pool_size", 1)
        overflow, overflow_text, overflow_code = _bound(overflow_n, overflow_default, whose, "max_overflow", 0)
        pools.append(Pool(name=f"{found.name}@{found.where}", pool_size=size, max_overflow=overflow))
        if size_code and overflow_code:
            shown_line = f"pool_size {size}, max_overflow {overflow} (code)"
        else:
            shown_line = f"{size_text}; {overflow_text}"
        notes.append(f"pool {i + 1}: {found.name} at {found.where}: {shown_line}")
    return pools, notes


def reached_modules(facts: CodeFacts, app: str | None, program: str | None) -> set[str] | None:
    """The project modules a process running ``app`` (``app.main`` of ``gunicorn app.main:app``, the
    ``-A`` of ``celery``) imports, directly or not, ``app``'s own included; None when ``app`` is not
    among the modules read (then nobody knows what it runs)."""
    start = facts.index.known(app) if app else None
    if start is None or len(start[1]) > (1 if program == "celery" else 0):  # celery -A proj.app: an attribute
        return None  # only a parent package was read: the module that runs is not among those read
    reached, todo = set(), [start[0]]
    if program == "celery" and not start[1]:  # celery -A proj: proj/celery.py makes the app
        todo.append(f"{start[0]}.celery")
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        for target in facts.index.imports_of(module):
            hit = facts.index.known(target)
            if hit is not None:
                todo.append(hit[0])
    return reached


def _reach(facts: CodeFacts, found: list[CodePool], pools: list[Pool]) -> Callable[[Command], list[Pool]]:
    """Which of ``pools`` (made in ``found``'s modules) a command's process holds: those whose module
    its app module imports, directly or not; all of them when the command names no module read."""
    by_module: dict[str, list[Pool]] = {}
    for code_pool, pool in zip(found, pools, strict=True):
        by_module.setdefault(code_pool.module, []).append(pool)

    def runs(command: Command) -> list[Pool]:
        reached = reached_modules(facts, command.app, command.program)
        if reached is None:
            return list(pools)
        held = [pool for module, held in by_module.items() if module in reached for pool in held]
        return held or list(pools)  # imported dynamically, perhaps: a worst case counts them all

    return runs


def apply(dep: Deployment, facts: CodeFacts, *, cpus: int | None = None) -> tuple[Deployment, list[str]]:
    """``dep`` completed from code where the config is silent, and lines saying what came from where.

    Services come from code only when the config declares none. A Django project (a PostgreSQL
    ``DATABASES`` entry) counts as a service ``web`` and, with Celery, ``worker``, one replica
    each, from its settings and the commands that run it (:mod:`poolwarden.budget.serving`;
    ``cpus`` for Celery's default concurrency); a service whose connections nothing bounds is
    listed in ``Deployment.unbounded``. Otherwise the pooled engines found (migrations and one-shot
    engines left out) count in the services the tree's commands run
    (:func:`poolwarden.budget.serving.engine_services`: ``web`` and ``worker``, each engine where
    its module is imported by the module the command runs); only when the tree holds no command,
    as one service ``code`` of one replica whose processes are Celery's ``worker_concurrency`` (if
    literal and ≥ 1, else 1). Periodic jobs come from ``beat_schedule`` when the
    config declares none; their duration is unknown to code and assumed to be one minute; an
    interval outside 1 s … 365 days is not counted (and said so).

    Raises :class:`UsageError` when the config declares a service with no pool while code holds
    engines (they would be attributed to no service), and when neither config nor code give
    anything to count: a verdict on such a model would be an empty "OK".
    """
    notes: list[str] = []
    pooled = [p for p in facts.pools if not p.unpooled and not p.one_shot]
    bare = [s.name for s in dep.services if not s.pools]
    pooled = [*pooled, *(CodePool(db.where, f"DATABASES[{db.alias!r}]", None, None)
                         for db in facts.databases if db.postgres and bare)]
    if bare and pooled:
        origin = f"{dep.origin}: " if dep.origin else ""
        names = ", ".join(repr(n) for n in bare[:3]) + (f" and {len(bare) - 3} more" if len(bare) > 3 else "")
        raise UsageError(f"{origin}service {names} declares no pool, and --code found {len(pooled)} engine(s) "
                         f"not attributed to any service ({_engines(pooled)}): declare their pools in the service, "
                         "or remove the config's services to count them as one service from code")
    postgres = [db for db in facts.databases if db.postgres]
    if not dep.services and postgres:
        pools, lines = _code_pools(pooled)
        settings = [*facts.celery_settings, *(Number(value, where) for where, value in facts.concurrency)]
        services, described, unbounded = django_services(facts.databases, facts.commands, settings,
                                                         facts.celery_apps, pools, cpus)
        notes.extend([*described, *lines])
        names = " and ".join(f"'{s.name}'" for s in services)
        notes.append(f"the config declares no service: the Django project counts as {names}, 1 replica"
                     + (" each" if len(services) > 1 else "")
                     + (f", with the {len(pools)} engine(s) found in every process" if pools else ""))
        dep = dataclasses.replace(dep, services=services, unbounded=(*dep.unbounded, *map(mask_text, unbounded)))
    elif not dep.services and pooled:
        pools, lines = _code_pools(pooled)
        notes.extend(lines)
        settings = [*facts.celery_settings, *(Number(value, where) for where, value in facts.concurrency)]
        services, described = engine_services(facts.commands, settings, facts.celery_apps, pools, cpus,
                                              runs=_reach(facts, pooled, pools))
        if services:
            notes.extend(described)
            names = " and ".join(f"'{s.name}'" for s in services)
            notes.append(f"the config declares no service: the {len(pooled)} engine(s) found count in {names}, "
                         "1 replica" + (" each" if len(services) > 1 else ""))
            dep = dataclasses.replace(dep, services=services)
        else:
            notes.extend(described)  # commands found whose modules import none of the engines
            counts = [(where, value) for where, value in facts.concurrency if value >= 1]
            notes.extend(f"worker_concurrency = {value} at {where} is not a process count: ignored"
                         for where, value in facts.concurrency if value < 1)
            processes = max((value for _, value in counts), default=1)
            source = (f"worker_concurrency at {next(w for w, v in counts if v == processes)}" if counts
                      else "the commands found run none of the engines' modules" if described
                      else "no literal worker_concurrency found, and no gunicorn / uvicorn / hypercorn / daphne / "
                           "uwsgi / celery worker command in a Dockerfile, Procfile, compose file, shell script, "
                           "supervisord or uWSGI config, nor a gunicorn config module, in the tree")
            noun = "process" if processes == 1 else "processes"
            notes.append(f"the config declares no service: the {len(pooled)} engine(s) found count as one service "
                         f"'code' with {processes} {noun} ({source}) and 1 replica")
            dep = dataclasses.replace(dep, services=(Service("code", 1, processes, tuple(pools)),))
    elif facts.pools or postgres:
        found = f"{len(facts.pools)} engine(s)" + (f" and {len(postgres)} Django DATABASES entries" if postgres else "")
        notes.append(f"{found} found in code; the config's services are used")
    notes.extend(f"not counted (migrations / one-shot): {p.name} at {p.where}: {p.one_shot}"
                 + ("; declare its bound in the config if a service runs it" if p.one_shot.startswith("NullPool")
                    else "")
                 for p in facts.pools if p.one_shot)
    if not dep.periodic and facts.jobs:
        jobs = []
        for j in facts.jobs:
            if math.isfinite(j.every) and MIN_EVERY <= j.every <= MAX_SPAN:
                jobs.append(Periodic(j.name, j.every, 60.0))
            else:
                notes.append(f"not counted: the schedule of {j.name!r} at {j.where} is {j.every:g} s "
                             "(budget models intervals from 1 s to 365 days)")
        if jobs:
            dep = dataclasses.replace(dep, periodic=tuple(jobs))
            notes.append(f"{len(jobs)} periodic job(s) from beat_schedule (duration assumed 1m each)")
    notes.extend(f"not literal: {line}" for line in facts.not_literal)
    if not dep.services and not dep.periodic and dep.pgbouncer is None:
        left = [p for p in facts.pools if p.one_shot]
        what = (f"only migration / one-shot / unpooled engines ({_engines(left)})" if left
                else "no engine, pool or beat schedule")
        raise UsageError(f"nothing to count: --code found {what}, and no config declares services or periodic jobs")
    return dep, [mask_text(line) for line in notes]  # a literal written in code may hold a DSN
