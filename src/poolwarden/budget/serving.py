"""A Django service's connection demand: which processes and threads run the code, and what each holds.

The model (Django opens its connections lazily, one per thread per ``DATABASES`` alias, and
keeps it in a thread-local):

- **with the native pool** (Django ≥ 5.1, ``OPTIONS["pool"]``): one psycopg_pool per alias per
  *process*, shared by its threads; worst ``max_size``, steady ``min_size`` (psycopg_pool's
  defaults: ``min_size`` 4, ``max_size`` = ``min_size``). Django forbids ``CONN_MAX_AGE`` then.
- **without a pool**: one connection per *thread* that runs ORM code. ``CONN_MAX_AGE`` > 0 or
  ``None``: persistent, each thread holds its connection between requests (steady = worst);
  0 (the default): opened and closed per request, still one at a time per thread (steady 0).
- **threads per process**: gunicorn ``sync`` 1; ``gthread`` (or ``threads`` > 1, which gunicorn
  turns into gthread) ``threads``; ``gevent`` / ``eventlet`` ``worker_connections`` (default
  1000: every greenlet is a thread to Django); **ASGI** (uvicorn, hypercorn, daphne, gunicorn's
  ``UvicornWorker``):
  Django runs each request's sync code (the ORM, also under ``aget`` & co.) on a thread of its
  own (asgiref's ``ThreadSensitiveContext`` per request), so one connection per *concurrent
  request* — bounded only by uvicorn's ``--limit-concurrency``, else **unbounded**; and with
  ``CONN_MAX_AGE`` ≠ 0 each request's thread is used once and its persistent connection is left
  open (Django ticket 33497): **unbounded** whatever the limit. An unbounded service is counted
  at one connection per process per alias and reported as a problem.
- **Celery worker**: ``prefork`` (the default) ``concurrency`` processes of one thread;
  ``threads`` / ``gevent`` / ``eventlet``: one process of ``concurrency`` threads; ``solo``: one.
  Concurrency from the command (``-c``, ``--autoscale`` max), else the settings, else Celery's
  default — the worker machine's CPU count, unknown here: ``--cpus`` or 1, said so.

- **uWSGI**: ``processes`` of ``threads`` threads (1 and 1 by default), from its command line or
  its ini file.

In a Django project, engines and pools found in code (SQLAlchemy, psycopg_pool…) are counted in
every process of every service. Outside Django, :func:`engine_services` counts them where the
module a command runs imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from poolwarden.budget.commands import Command, Text
from poolwarden.budget.django import Database
from poolwarden.budget.model import Pool, Service
from poolwarden.budget.values import Number

GUNICORN_DEFAULT_WORKERS = 1  # gunicorn's default (its WEB_CONCURRENCY env var changes it)
GREENLETS_DEFAULT = 1000  # gunicorn's worker_connections default
_ASGI_MARKERS = ("uvicorn", "asgi", "daphne", "hypercorn")
ASGI_SERVERS = frozenset({"uvicorn", "hypercorn", "daphne"})  # servers that run only ASGI apps (here)
_GREEN_MARKERS = ("gevent", "eventlet")
_THREADED_CELERY_POOLS = frozenset({"threads", "gevent", "eventlet"})


@dataclass(frozen=True)
class Runner:
    """How one service runs the code: processes and threads, and whether its concurrency is unbounded."""

    name: str  # web | worker
    processes: int
    threads: int  # per process: connections per alias without a pool
    asgi: bool
    limited: bool  # ASGI with --limit-concurrency
    text: str  # where each number came from
    source: str = ""  # the command or config it was read from


def _count(number: Number | None, default: int, default_text: str, label: str) -> tuple[int, str]:
    if number is None:
        return default, f"{label} {default} ({default_text})"
    if number.value is None or number.value < 1:
        why = "not a count" if number.value is not None else "unknown"
        return default, f"{label} {number.describe()}: {why}, counted as {default} ({default_text})"
    return number.value, f"{label} {number.describe()}"


def _word(text: Text | None, default: str, default_text: str, label: str) -> tuple[str, str]:
    if text is None:
        return default, f"{label} {default} ({default_text})"
    env = f"; env {text.env} changes it" if text.env else ""
    if text.value is None:
        return default, f"{label} not literal ({text.where}{env}): counted as {default} ({default_text})"
    return text.value, f"{label} {text.value} ({text.where}{env})"


def _pick(command: Command, configs: Sequence[Command]) -> Command | None:
    if command.config:
        wanted = command.config.replace("\\", "/").rpartition("/")[2]
        for conf in configs:
            if conf.where.replace("\\", "/").rpartition("/")[2] == wanted:
                return conf
    return configs[0] if configs else None


def web_runner(command: Command | None, configs: Sequence[Command]) -> Runner:
    """The web service's processes and threads from a gunicorn / uvicorn command and gunicorn config modules."""
    if command is None and not configs:
        return Runner("web", GUNICORN_DEFAULT_WORKERS, 1, False, False,
                      "no gunicorn / uvicorn / hypercorn / daphne / uwsgi command or gunicorn config found: counted as "
                      "gunicorn's defaults (1 sync worker, 1 thread)")
    program = command.program if command is not None else "gunicorn"
    conf = None if program != "gunicorn" else _pick(command, configs) if command is not None else configs[0]
    head = f"{program} at {command.where}" if command is not None else f"gunicorn config {conf.where if conf else ''}"
    if conf is not None and command is not None:
        head += f" with config {conf.where}"

    def option(name: str) -> object:
        own = getattr(command, name) if command is not None else None
        return own if own is not None else (getattr(conf, name) if conf is not None else None)

    parts = []
    if program == "uwsgi":  # prefork processes of `threads` threads each (WSGI)
        processes, text = _count(command.workers if command is not None else None, 1, "uWSGI's default",
                                 "processes")
        parts.append(text)
        threads, text = _count(command.threads if command is not None else None, 1, "uWSGI's default", "threads")
        parts.append(text)
        return _runner("web", processes, threads, False, False, head, parts)
    if program in ASGI_SERVERS:
        uv_workers = option("workers")
        default_text = ("uvicorn's default; env WEB_CONCURRENCY changes it" if program == "uvicorn"
                        else f"{program}'s default")
        processes, text = _count(uv_workers if isinstance(uv_workers, Number) else None, 1, default_text, "workers")
        parts.append(text)
        limit = option("limit_concurrency")
        if isinstance(limit, Number) and limit.value is not None and limit.value >= 1:
            parts.append(f"--limit-concurrency {limit.describe()}")
            return _runner("web", processes, limit.value, True, True, head, parts)
        return _runner("web", processes, 1, True, False, head, parts)
    workers = option("workers")
    processes, text = _count(workers if isinstance(workers, Number) else None, GUNICORN_DEFAULT_WORKERS,
                             "gunicorn's default; env WEB_CONCURRENCY changes it", "workers")
    parts.append(text)
    klass_text = option("worker_class")
    klass, text = _word(klass_text if isinstance(klass_text, Text) else None, "sync", "gunicorn's default",
                        "worker_class")
    parts.append(text)
    lowered = klass.lower()
    if any(marker in lowered for marker in _ASGI_MARKERS):
        return _runner("web", processes, 1, True, False, head, parts)
    if any(marker in lowered for marker in _GREEN_MARKERS):
        conns = option("worker_connections")
        threads, text = _count(conns if isinstance(conns, Number) else None, GREENLETS_DEFAULT,
                               "gunicorn's default", "worker_connections")
        parts.append(text + " greenlets per process, each a thread to Django")
        return _runner("web", processes, threads, False, False, head, parts)
    threads_number = option("threads")
    threads, text = _count(threads_number if isinstance(threads_number, Number) else None, 1,
                           "gunicorn's default", "threads")
    if lowered == "sync" and threads > 1:
        text += " (gunicorn runs gthread when threads > 1)"
    elif lowered not in ("sync", "gthread") and threads_number is None:
        text = f"{lowered}: counted as 1 thread per process"
    parts.append(text)
    return _runner("web", processes, threads, False, False, head, parts)


def _processes(n: int) -> str:
    return f"{n} process" if n == 1 else f"{n} processes"


def _runner(name: str, processes: int, threads: int, asgi: bool, limited: bool, head: str,
            parts: list[str]) -> Runner:
    shape = f"{_processes(processes)} of {threads} thread{'s' if threads != 1 else ''}"
    if asgi and not limited:
        shape = f"{_processes(processes)}, ASGI: a thread per concurrent request"
    return Runner(name, processes, threads, asgi, limited, f"{head}: " + ", ".join(parts) + f": {shape}", head)


def worker_runner(command: Command | None, settings: Sequence[Number], app_where: str, cpus: int | None) -> Runner:
    """The Celery worker's processes and threads (see the module's docstring)."""
    head = f"celery worker at {command.where}" if command is not None else \
        f"Celery app at {app_where} (no celery worker command found)"
    parts = []
    if command is not None and command.concurrency is not None:
        chosen: Number | None = command.concurrency
    else:
        chosen = next((n for n in settings if n.value is not None and n.value >= 1), settings[0] if settings else None)
    if cpus is not None:
        default, default_text = cpus, f"Celery's default: the CPU count, {cpus} from --cpus"
    else:
        default, default_text = 1, ("Celery's default is the worker machine's CPU count, unknown here: "
                                    "counted as 1, pass --cpus N")
    concurrency, text = _count(chosen, default, default_text, "concurrency")
    parts.append(text)
    pool, text = _word(command.pool if command is not None else None, "prefork", "Celery's default", "pool")
    parts.append(text)
    if pool in _THREADED_CELERY_POOLS:
        return _runner("worker", 1, concurrency, False, False, head, parts)
    if pool == "solo":
        return _runner("worker", 1, 1, False, False, head, parts)
    return _runner("worker", concurrency, 1, False, False, head, parts)


def describe_database(db: Database) -> str:
    """One line: the entry, where, and how it is counted."""
    head = f"DATABASES[{db.alias!r}] at {db.where}"
    if db.built_by:
        head += f" (built by {db.built_by})"
    if not db.postgres:
        return f"{head}: ENGINE {db.engine!r} is not PostgreSQL: not counted"
    engine = "PostgreSQL" if db.engine is not None else "ENGINE not literal: counted as PostgreSQL"
    if db.pooled:
        low, high, how = db.pool_bounds()
        return (f"{head}: {engine}, native pool (OPTIONS['pool'] at {db.pool.where if db.pool else '?'}): {how}; "
                f"per process, shared by its threads: up to {high}, {low} kept open")
    if db.conn_max_age is None and db.built_by and not db.from_url:
        age = "CONN_MAX_AGE unknown (the entry is built by a call): counted as Django's default 0"
    elif db.conn_max_age is None:
        age = f"CONN_MAX_AGE 0 ({'dj_database_url' if db.from_url else 'Django'}'s default)"
    else:
        age = f"CONN_MAX_AGE {db.conn_max_age.describe()}"
    effect = ("persistent: each thread keeps its connection between requests" if db.persistent
              else "opened and closed per request, one at a time per thread")
    hidden = f"; {db.options_hidden}, counted as no pool" if db.options_hidden else ""
    return f"{head}: {engine}, no pool: one connection per thread; {age}: {effect}{hidden}"


def _alias_pool(alias: str, readings: Sequence[Database], threads: int) -> Pool:
    """The worst reading of one alias as a per-process Pool."""
    best: Pool | None = None
    for db in readings:
        if db.pooled:
            low, high, _ = db.pool_bounds()
            pool = Pool(f"DATABASES[{alias!r}]", pool_size=low, max_overflow=high - low, scalable=False)
        elif db.persistent:
            pool = Pool(f"DATABASES[{alias!r}]", pool_size=threads, max_overflow=0, scalable=False)
        else:
            pool = Pool(f"DATABASES[{alias!r}]", pool_size=0, max_overflow=threads, scalable=False)
        if best is None or (pool.worst_per_process, pool.steady_per_process) > \
                (best.worst_per_process, best.steady_per_process):
            best = pool
    assert best is not None
    return best


def unbounded(runner: Runner, readings: Sequence[Database]) -> str | None:
    """Why ``runner`` may open connections without bound, or None."""
    if not runner.asgi:
        return None
    unpooled = [db for db in readings if not db.pooled]
    leaking = [db for db in unpooled if db.persistent]
    if leaking:
        db = leaking[0]
        return (f"{runner.name}: DATABASES[{db.alias!r}] keeps connections (CONN_MAX_AGE "
                f"{db.conn_max_age.describe() if db.conn_max_age else '?'}) under ASGI, where each request runs "
                "on a thread used once: every request may leave one open (Django ticket 33497); "
                "set CONN_MAX_AGE = 0 or use OPTIONS['pool'] with max_size")
    if unpooled and not runner.limited:
        db = unpooled[0]
        return (f"{runner.name}: DATABASES[{db.alias!r}] has no pool under ASGI, where each concurrent request "
                "runs on a thread of its own with its own connection, and nothing bounds the concurrency: "
                "use OPTIONS['pool'] with max_size, or uvicorn --limit-concurrency")
    return None


def build(runner: Runner, databases: Sequence[Database], engines: Sequence[Pool]) -> Service:
    """The service ``runner`` makes of the PostgreSQL ``databases`` (worst reading per alias) and ``engines``."""
    by_alias: dict[str, list[Database]] = {}
    for db in databases:
        if db.postgres:
            by_alias.setdefault(db.alias, []).append(db)
    pools = [_alias_pool(alias, readings, runner.threads) for alias, readings in by_alias.items()]
    return Service(runner.name, 1, runner.processes, (*pools, *engines))


def _shape(runner: Runner) -> tuple[int, int, bool, bool]:
    return runner.processes, runner.threads, runner.asgi, runner.limited


def _worst(service: Service) -> tuple[int, int]:
    return service.worst, service.steady


def _choose(runners: Sequence[Runner], databases: Sequence[Database], engines: Sequence[Pool],
            services: list[Service], notes: list[str]) -> Runner:
    """The runner of one role with the largest worst case, its service appended to ``services`` and
    the others listed in ``notes``."""
    built = [(build(r, databases, engines), r) for r in runners]
    service, runner = max(built, key=lambda pair: _worst(pair[0]))
    services.append(service)
    notes.append(f"{runner.name}: {runner.text}")
    same = [other.source for _, other in built if other is not runner and _shape(other) == _shape(runner)]
    if same:
        notes.append(f"{runner.name}: also found, the same count: {', '.join(same)}")
    notes.extend(f"{runner.name}: also found, not counted (a smaller worst case): {other.text}"
                 for _, other in built if other is not runner and _shape(other) != _shape(runner))
    return runner


def _roles(commands: Sequence[Command]) -> tuple[list[Command], list[Command], list[Command]]:
    """(gunicorn config modules, server commands, celery worker commands)."""
    return ([c for c in commands if c.is_config], [c for c in commands if not c.is_config and c.program != "celery"],
            [c for c in commands if c.program == "celery"])


def engine_services(commands: Sequence[Command], settings: Sequence[Number], celery_apps: Sequence[str],
                    engines: Sequence[Pool], cpus: int | None,
                    runs: Callable[[Command], Sequence[Pool]] | None = None) -> tuple[tuple[Service, ...], list[str]]:
    """The services that run engines and pools found in code (SQLAlchemy, asyncpg, psycopg_pool…),
    from the commands found in the tree: ``web`` when a gunicorn / uvicorn / hypercorn / daphne
    command or a gunicorn config is there, ``worker`` when a ``celery … worker`` command is (its
    concurrency from the command, else the settings, else Celery's default). Each holds, per
    process, the engines ``runs(command)`` says its command's module reaches (all of them without
    ``runs``; a service that holds none is listed, not counted); threads share a process's pools,
    so only processes multiply. Empty when the tree
    has no such command: the caller then counts one process and says so."""
    configs, servers, workers = _roles(commands)
    services: list[Service] = []
    notes: list[str] = []
    web = [web_runner(c, configs) for c in servers]
    if configs and not any(c.program == "gunicorn" for c in servers):
        web.append(web_runner(None, configs))
    worker = [worker_runner(c, settings, celery_apps[0] if celery_apps else "?", cpus) for c in workers]
    for runners, made_by in ((web, [*servers, *([None] if len(web) > len(servers) else [])]),
                             (worker, list(workers))):
        if not runners:
            continue
        held = [list(runs(c)) if runs is not None and c is not None else list(engines) for c in made_by]
        built = [(Service(r.name, 1, r.processes, tuple(pools)), r) for r, pools in zip(runners, held, strict=True)
                 if pools]
        notes.extend(f"{r.name}: not counted: {r.source} runs {c.app if c is not None else '?'}, which imports "
                     "none of the modules the engines are made in"
                     for r, pools, c in zip(runners, held, made_by, strict=True) if not pools)
        if not built:
            continue
        service, runner = max(built, key=lambda pair: _worst(pair[0]))
        services.append(service)
        notes.append(f"{runner.name}: {runner.text}: {_processes(runner.processes)} × the {len(service.pools)} "
                     "engine(s) it reaches, each its own pool")
        notes.extend(f"{runner.name}: also found, not counted (a smaller worst case): {other.text}"
                     for other_service, other in built if other is not runner)
    return tuple(services), notes


def django_services(databases: Sequence[Database], commands: Sequence[Command], settings: Sequence[Number],
                    celery_apps: Sequence[str], engines: Sequence[Pool],
                    cpus: int | None) -> tuple[tuple[Service, ...], list[str], list[str]]:
    """The services a Django project runs (``web``, and ``worker`` when Celery is there), the notes
    saying where every number came from, and the reasons a service is unbounded.

    Of several web (or worker) commands found — a Dockerfile's and a dev script's, say — the one
    with the largest worst case is counted and the others are listed: declare services in the
    config when several run at once."""
    notes = [describe_database(db) for db in databases]
    postgres = [db for db in databases if db.postgres]
    configs, servers, workers = _roles(commands)
    services: list[Service] = []
    problems: list[str] = []
    web = [web_runner(c, configs) for c in servers]
    if not web or (configs and not any(c.program == "gunicorn" for c in servers)):
        web.append(web_runner(None, configs))  # a gunicorn config no command found names: run as it says
    roles: list[tuple[str, list[Runner]]] = [("web", web)]
    if workers or celery_apps or settings:
        app = celery_apps[0] if celery_apps else "?"
        roles.append(("worker", [worker_runner(c, settings, app, cpus) for c in workers] or
                      [worker_runner(None, settings, app, cpus)]))
    for _, runners in roles:
        runner = _choose(runners, postgres, engines, services, notes)
        reason = unbounded(runner, postgres)
        if reason is not None:
            problems.append(reason)
    return tuple(services), notes, problems
