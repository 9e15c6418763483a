"""``budget --code PATH``: pool settings and Celery schedules read from code where they are literal.

The scan reuses the analyzer's walk (imports resolved the same way as ``check``): engine and
pool constructors with their literal ``pool_size`` / ``max_overflow`` (or ``max_size``, or
psycopg2's ``minconn, maxconn``; poolwarden's own engines with their bounded defaults, and an
``EngineRegistry`` as its ``max_connections``), Celery's ``worker_concurrency``, and ``beat_schedule`` entries
whose ``schedule`` is a number of seconds or a literal ``timedelta(...)``. A value that is not
literal is reported as such and left to the config or the defaults.

A Django project is read too: its ``DATABASES`` entries (:mod:`poolwarden.budget.django`), the
gunicorn / uvicorn / Celery commands and gunicorn config modules that say how many processes and
threads run it (:mod:`poolwarden.budget.commands`), and the services they make
(:mod:`poolwarden.budget.serving`), with values followed through environment lookups to their
literal defaults (:mod:`poolwarden.budget.values`).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import sys
from dataclasses import dataclass, field

from poolwarden.budget import commands as C
from poolwarden.budget.commands import Command
from poolwarden.budget.django import Database, read_celery_concurrency, read_databases
from poolwarden.budget.model import MAX_SPAN, MIN_EVERY, Deployment, Periodic, Pool, Service
from poolwarden.budget.serving import django_services
from poolwarden.budget.values import Number
from poolwarden.check import knowledge as K
from poolwarden.check import source as S
from poolwarden.check.context import FileContext
from poolwarden.check.files import discover
from poolwarden.check.modules import module_name
from poolwarden.check.rule import Rule
from poolwarden.check.scope import dotted_text
from poolwarden.check.walk import Walker
from poolwarden.dsn import mask_text
from poolwarden.errors import UsageError


@dataclass(frozen=True)
class CodePool:
    """An engine or pool constructor found in code."""

    where: str  # path:line
    name: str  # the variable it is assigned to, or the constructor
    pool_size: int | None  # None: not literal (or not given)
    max_overflow: int | None
    unpooled: bool = False  # NullPool / StaticPool


@dataclass(frozen=True)
class CodeJob:
    where: str
    name: str
    every: float  # seconds


@dataclass
class CodeFacts:
    pools: list[CodePool] = field(default_factory=list)
    concurrency: list[tuple[str, int]] = field(default_factory=list)  # (where, value)
    jobs: list[CodeJob] = field(default_factory=list)
    not_literal: list[str] = field(default_factory=list)  # "path:line: pool_size of create_engine()"
    skipped: list[str] = field(default_factory=list)  # "path: why" for files that could not be read
    databases: list[Database] = field(default_factory=list)  # Django DATABASES entries, as written
    commands: list[Command] = field(default_factory=list)  # gunicorn / uvicorn / celery worker, gunicorn configs
    celery_settings: list[Number] = field(default_factory=list)  # CELERY_WORKER_CONCURRENCY & co.
    celery_apps: list[str] = field(default_factory=list)  # where a Celery app is made


_POOLWARDEN_ENGINES = frozenset({"poolwarden.runtime.engine.create_engine",
                                 "poolwarden.runtime.engine.create_async_engine"})
_CELERY_APP = "celery.Celery"
_TIMEDELTA_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _literal_int(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def _seconds(node: ast.expr, ctx: FileContext) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Call) and (ctx.qualname(node.func) or "").endswith("timedelta") and not node.args:
        total = 0.0
        for kw in node.keywords:
            if kw.arg not in _TIMEDELTA_UNITS or not isinstance(kw.value, ast.Constant) \
                    or not isinstance(kw.value.value, (int, float)):
                return None
            total += kw.value.value * _TIMEDELTA_UNITS[kw.arg]
        return total
    return None


class _Collector(Rule):
    CODE = "PW900"  # internal: never reported
    NAME = "budget-scan"
    NODES = (ast.Call, ast.Assign)

    def __init__(self, facts: CodeFacts) -> None:
        self.facts = facts

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        if isinstance(node, ast.Assign):
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and target.attr == "worker_concurrency":
                self._concurrency(node.value, node, ctx)
            return
        assert isinstance(node, ast.Call)
        where = f"{ctx.path}:{node.lineno}"
        callee = ctx.call(node).target or ""
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        if callee in K.SQLALCHEMY_ENGINES:
            poolclass = keywords.get("poolclass")
            unpooled = poolclass is not None and dotted_text(poolclass).rpartition(".")[2] in K.UNPOOLED
            self._pool(where, node, keywords.get("pool_size"), keywords.get("max_overflow"), unpooled, ctx)
        elif callee in _POOLWARDEN_ENGINES:  # runtime.engine: bounded defaults, 5 + 0
            pgbouncer = keywords.get("pgbouncer")
            self._pool(where, node, keywords.get("pool_size", ast.Constant(5)),
                       keywords.get("max_overflow", ast.Constant(0)),
                       isinstance(pgbouncer, ast.Constant) and pgbouncer.value is True, ctx)
        elif callee == "poolwarden.runtime.tenants.EngineRegistry":  # capped across all its tenants
            self._pool(where, node, keywords.get("max_connections", ast.Constant(20)), ast.Constant(0), False, ctx)
        elif callee in K.ASYNCPG_POOLS or callee in K.SIZED_POOLS:
            self._pool(where, node, keywords.get("max_size"), ast.Constant(0), False, ctx)
        elif callee in K.LIBPQ_POOLS and len(node.args) >= 2:
            self._pool(where, node, node.args[1], ast.Constant(0), False, ctx)
        elif callee == _CELERY_APP:
            self.facts.celery_apps.append(where)
        name = dotted_text(node.func).rpartition(".")[2]
        if name == "update" and "worker_concurrency" in keywords:
            self._concurrency(keywords["worker_concurrency"], node, ctx)
        if "beat_schedule" in keywords and isinstance(keywords["beat_schedule"], ast.Dict):
            self._schedule(keywords["beat_schedule"], ctx)

    def _pool(self, where: str, node: ast.Call, size: ast.expr | None, overflow: ast.expr | None,
              unpooled: bool, ctx: FileContext) -> None:
        label = f"{dotted_text(node.func)}()"
        for key, value in (("pool_size", size), ("max_overflow", overflow)):
            if value is not None and _literal_int(value) is None and not unpooled:
                self.facts.not_literal.append(f"{where}: {key} of {label} is `{ast.unparse(value)}`")
        self.facts.pools.append(CodePool(where, label, _literal_int(size), _literal_int(overflow), unpooled))

    def _concurrency(self, value: ast.expr, node: ast.AST, ctx: FileContext) -> None:
        where = f"{ctx.path}:{getattr(node, 'lineno', 0)}"
        literal = _literal_int(value)
        if literal is None:
            self.facts.not_literal.append(f"{where}: worker_concurrency is `{ast.unparse(value)}`")
        else:
            self.facts.concurrency.append((where, literal))

    def _schedule(self, table: ast.Dict, ctx: FileContext) -> None:
        for key, value in zip(table.keys, table.values, strict=True):
            name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else "?"
            where = f"{ctx.path}:{getattr(value, 'lineno', 0)}"
            schedule = None
            if isinstance(value, ast.Dict):
                for k, v in zip(value.keys, value.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "schedule":
                        schedule = v
            seconds = _seconds(schedule, ctx) if schedule is not None else None
            if seconds is None or seconds <= 0:
                self.facts.not_literal.append(f"{where}: the schedule of {name!r} is not a literal interval")
            else:
                self.facts.jobs.append(CodeJob(where, name, seconds))


def scan(paths: list[str], *, cpus: int | None = None) -> CodeFacts:
    """Read every Python file under ``paths``, and the command files (Procfiles, Dockerfiles, shell
    scripts, compose files: :mod:`poolwarden.budget.commands`). Raises FileNotFoundError for a
    missing path. ``cpus``: the worker machines' CPU count, for values computed from it.

    Files are read as ``check`` reads them (:func:`poolwarden.check.source.load`); one that cannot
    be read, decoded or parsed, or is too deep, too big or not a regular file, is listed in
    ``skipped`` with the reason ``check`` reports for it as PW000. Django settings are read from
    modules other than tests (:mod:`poolwarden.budget.django`).
    """
    facts = CodeFacts()
    collector = _Collector(facts)

    def skip(path: object, failure: S.Failure) -> None:
        where = f"{path}:{failure.line}" if failure.kind == "syntax" else str(path)
        facts.skipped.append(f"{where}: {failure.message.removeprefix('skipped: ')}")

    def unlistable(path: str, exc: OSError) -> None:
        skip(path, S.unreadable(exc))

    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, 8000))  # as check's workers: deep but valid code is walked, not lost
    try:
        for path in discover(paths, onerror=unlistable):
            loaded = S.load(path)
            if isinstance(loaded, S.Failure):
                skip(path, loaded)
                continue
            module, is_package, root = module_name(path)
            ctx = FileContext(str(path), module, is_package, root)
            try:
                Walker(ctx, [collector]).run(loaded.tree)
                _settings(facts, loaded, ctx, cpus)
            except RecursionError:
                skip(path, S.Failure("too-deep", "cannot analyse: nesting too deep to analyse"))
    finally:
        sys.setrecursionlimit(saved)
    for path in discover(paths, onerror=unlistable, accept=C.is_command_file):
        text = C.read_limit(str(path)) if C.is_command_file(path.name) else None
        if text is not None:
            facts.commands.extend(C.read_command_file(text, str(path)))
    return facts


def _settings(facts: CodeFacts, loaded: S.Parsed, ctx: FileContext, cpus: int | None) -> None:
    """The Django and Celery settings and the gunicorn config a module holds."""
    if ctx.is_test:
        return
    if b"DATABASES" in loaded.source:
        facts.databases.extend(read_databases(loaded.tree, ctx.path))
    if b"CONCURRENCY" in loaded.source or b"worker_concurrency" in loaded.source:
        facts.celery_settings.extend(read_celery_concurrency(loaded.tree, ctx.path, cpus=cpus))
    if C.is_gunicorn_config(ctx.path.replace("\\", "/").rpartition("/")[2]):
        found = C.read_gunicorn_config(loaded.tree, ctx.path, cpus=cpus)
        if found is not None:
            facts.commands.append(found)


def _engines(pools: list[CodePool], limit: int = 3) -> str:
    shown = ", ".join(f"{p.name} at {p.where}" for p in pools[:limit])
    return shown + (f" and {len(pools) - limit} more" if len(pools) > limit else "")


def _code_pools(pooled: list[CodePool]) -> tuple[list[Pool], list[str]]:
    """The pooled engines found in code as pools, SQLAlchemy's defaults where not literal, and a line for each."""
    pools, notes = [], []
    for i, found in enumerate(pooled):
        size = found.pool_size if found.pool_size is not None and found.pool_size > 0 else 5
        overflow = found.max_overflow if found.max_overflow is not None and found.max_overflow >= 0 else 10
        pools.append(Pool(name=f"{found.name}@{found.where}", pool_size=size, max_overflow=overflow))
        origin = "code" if found.pool_size is not None else "default (not literal in code)"
        if (found.pool_size is not None and found.pool_size <= 0) or (found.max_overflow or 0) < 0:
            origin = (f"defaults instead of pool_size {found.pool_size}, max_overflow {found.max_overflow} "
                      "from code, which bound nothing: SQLAlchemy reads pool_size 0 and a negative "
                      "max_overflow as no limit")
        notes.append(f"pool {i + 1}: {found.name} at {found.where}: pool_size {size}, max_overflow {overflow} "
                     f"({origin})")
    return pools, notes


def apply(dep: Deployment, facts: CodeFacts, *, cpus: int | None = None) -> tuple[Deployment, list[str]]:
    """``dep`` completed from code where the config is silent, and lines saying what came from where.

    Services come from code only when the config declares none. A Django project (a PostgreSQL
    ``DATABASES`` entry) counts as a service ``web`` and, with Celery, ``worker``, one replica
    each, from its settings and the commands that run it (:mod:`poolwarden.budget.serving`;
    ``cpus`` for Celery's default concurrency); a service whose connections nothing bounds is
    listed in ``Deployment.unbounded``. Otherwise the pooled engines found count as one service
    ``code`` of one replica whose processes are Celery's ``worker_concurrency`` (if literal and
    ≥ 1, else 1). Periodic jobs come from ``beat_schedule`` when the
    config declares none; their duration is unknown to code and assumed to be one minute; an
    interval outside 1 s … 365 days is not counted (and said so).

    Raises :class:`UsageError` when the config declares a service with no pool while code holds
    engines (they would be attributed to no service), and when neither config nor code give
    anything to count: a verdict on such a model would be an empty "OK".
    """
    notes: list[str] = []
    pooled = [p for p in facts.pools if not p.unpooled]
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
        counts = [(where, value) for where, value in facts.concurrency if value >= 1]
        notes.extend(f"worker_concurrency = {value} at {where} is not a process count: ignored"
                     for where, value in facts.concurrency if value < 1)
        processes = max((value for _, value in counts), default=1)
        source = (f"worker_concurrency at {next(w for w, v in counts if v == processes)}" if counts
                  else "no literal worker_concurrency found")
        noun = "process" if processes == 1 else "processes"
        notes.append(f"the config declares no service: the {len(pooled)} engine(s) found count as one service "
                     f"'code' with {processes} {noun} ({source}) and 1 replica")
        dep = dataclasses.replace(dep, services=(Service("code", 1, processes, tuple(pools)),))
    elif facts.pools or postgres:
        found = f"{len(facts.pools)} engine(s)" + (f" and {len(postgres)} Django DATABASES entries" if postgres else "")
        notes.append(f"{found} found in code; the config's services are used")
    notes.extend(f"not counted: {p.name} at {p.where} is unpooled (NullPool / StaticPool / PgBouncer mode): "
                 "it opens a connection per checkout; declare its bound in the config" for p in facts.pools
                 if p.unpooled)
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
        unpooled = [p for p in facts.pools if p.unpooled]
        what = f"only unpooled engines ({_engines(unpooled)})" if unpooled else "no engine, pool or beat schedule"
        raise UsageError(f"nothing to count: --code found {what}, and no config declares services or periodic jobs")
    return dep, [mask_text(line) for line in notes]  # a literal written in code may hold a DSN
