"""How many processes and threads a container runs, from its command line and environment.

The command line (``command`` + ``args``; a ``sh -c "…"`` string is split as the shell would) is
read by :func:`poolwarden.budget.commands.parse_command`. Shell variables in it (``$X``, ``${X}``,
``${X:-4}``) take the container's literal env value first. Then, as the servers themselves do:

- gunicorn: ``-w/--workers`` on the command line, else in ``GUNICORN_CMD_ARGS``, else
  ``WEB_CONCURRENCY`` (gunicorn's default for workers), else 1; ``--threads`` likewise (default
  1); ``-k gevent``/``eventlet``: ``--worker-connections`` greenlets (default 1000) per process.
  A config file (``-c``) is not in the manifests: said so.
- uvicorn / hypercorn: ``--workers``, else ``WEB_CONCURRENCY`` (uvicorn), else 1; daphne: 1.
- celery worker: ``-c/--concurrency`` or ``--autoscale``'s max, else the CPU count (``--cpus``, or 1,
  said so); ``-P/--pool`` ``prefork`` (default): that many processes of one thread;
  ``threads``/``gevent``/``eventlet``: one process of that many threads; ``solo``: one of one.
- anything else: one process of one thread (said so).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from poolwarden.budget.commands import Command, Text, parse_command
from poolwarden.budget.values import Number
from poolwarden.budget.workload import Container

GREENLETS = 1000  # gunicorn's worker_connections default
_SHELL_VAR = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)|\$\{([A-Za-z_]\w*):?-[^}]*\}")
SERVERS = frozenset({"gunicorn", "uvicorn", "hypercorn", "daphne"})


@dataclass(frozen=True)
class Runner:
    """A container's processes and threads per pod, the command it runs, and where each number came from."""

    processes: int
    threads: int
    program: str | None  # gunicorn | uvicorn | hypercorn | daphne | celery | None
    text: str
    module: str | None = None  # the app module the command names (``app.main`` of ``gunicorn app.main:app``)
    asgi: bool = False  # an ASGI server or worker class (uvicorn, hypercorn, daphne, gunicorn's UvicornWorker)


def words(container: Container) -> list[str]:
    """The command line, with ``sh -c`` strings split and literal env values put for shell variables."""
    env = {k: v.value for k, v in container.env.items() if v.value is not None}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return env.get(name, match.group(0))

    out: list[str] = []
    for word in container.words:
        word = _SHELL_VAR.sub(sub, word) if "$" in word else word
        if " " in word.strip():
            try:
                out.extend(shlex.split(word, comments=True))
            except ValueError:
                out.append(word)
        else:
            out.append(word)
    return out


def _pick(*candidates: tuple[Number | None, str]) -> tuple[int | None, str]:
    for number, label in candidates:
        if number is None:
            continue
        if number.value is not None and number.value >= 1:
            return number.value, f"{number.value} ({number.where}{label})"
        return None, f"{number.describe()}{label}: not a count"
    return None, ""


def _env_number(container: Container, name: str) -> Number | None:
    found = container.env.get(name)
    if found is None:
        return None
    text = (found.value or "").strip()
    if found.value is not None and text.isdigit() and len(text) < 10:
        return Number(int(text), found.source)
    return Number(None, found.source, text=f"{name}={found.value}" if found.value is not None else found.why)


def runner(container: Container, *, cpus: int | None = None) -> Runner:
    """What ``container`` runs (see the module's docstring)."""
    argv = words(container)
    command = parse_command(argv, container.source)
    if command is None:
        return Runner(1, 1, None, f"no gunicorn / uvicorn / hypercorn / daphne / celery worker command in "
                                  f"{container.source}: 1 process of 1 thread")
    module = command.app
    if command.program == "gunicorn":
        return _gunicorn(command, container, module)
    if command.program in ("uvicorn", "hypercorn"):
        env = _env_number(container, "WEB_CONCURRENCY") if command.program == "uvicorn" else None
        n, text = _pick((command.workers, ""), (env, "; uvicorn's default for --workers"))
        return Runner(n or 1, 1, command.program, f"{command.program}: workers {text or '1 (default)'}", module,
                      asgi=True)
    if command.program == "daphne":
        return Runner(1, 1, "daphne", f"daphne ({container.source}): 1 process", module, asgi=True)
    return _celery(command, cpus, module)


def _gunicorn(command: Command, container: Container, module: str | None) -> Runner:
    cmd_args = container.env.get("GUNICORN_CMD_ARGS")
    extra = None
    if cmd_args is not None and cmd_args.value is not None:
        try:
            extra = parse_command(["gunicorn", *shlex.split(cmd_args.value)], cmd_args.source)
        except ValueError:
            extra = None

    def option(name: str) -> tuple[object, object]:
        return getattr(command, name), getattr(extra, name) if extra is not None else None

    own, env_workers = option("workers")
    workers, w_text = _pick((own if isinstance(own, Number) else None, ""),
                            (env_workers if isinstance(env_workers, Number) else None, ""),
                            (_env_number(container, "WEB_CONCURRENCY"), "; gunicorn's default for --workers"))
    processes = workers or 1
    parts = [f"workers {w_text or '1 (gunicorn default)'}"]
    own_class, env_class = option("worker_class")
    klass = next((t for t in (own_class, env_class) if isinstance(t, Text)), None)
    name = (klass.value or "sync") if klass is not None else "sync"
    if klass is not None:
        parts.append(f"worker class {name} ({klass.where})")
    if any(green in name.lower() for green in ("gevent", "eventlet")):
        own_conn, env_conn = option("worker_connections")
        conns, c_text = _pick((own_conn if isinstance(own_conn, Number) else None, ""),
                              (env_conn if isinstance(env_conn, Number) else None, ""))
        threads = conns or GREENLETS
        parts.append(f"worker_connections {c_text or f'{GREENLETS} (gunicorn default)'} greenlets")
    elif "uvicorn" in name.lower():  # an ASGI worker: one event loop per process, --threads unused
        threads = 1
        parts.append("threads 1 (an ASGI worker runs one event loop)")
    else:
        own_threads, env_threads = option("threads")
        count, t_text = _pick((own_threads if isinstance(own_threads, Number) else None, ""),
                              (env_threads if isinstance(env_threads, Number) else None, ""))
        threads = count or 1
        parts.append(f"threads {t_text or '1 (gunicorn default)'}")
    if command.config:
        parts.append(f"config file {command.config} is not read from the manifests")
    return Runner(processes, threads, "gunicorn", "gunicorn: " + ", ".join(parts), module,
                  asgi="uvicorn" in name.lower())


def _celery(command: Command, cpus: int | None, module: str | None) -> Runner:
    default = cpus or 1
    concurrency, text = _pick((command.concurrency, ""))
    if concurrency is None:
        why = f"{cpus} from --cpus" if cpus else "unknown here: counted as 1, pass --cpus N"
        text = (text + "; " if text else "") + f"Celery's default, the CPU count: {why}"
    n = concurrency or default
    pool = command.pool.value if command.pool is not None and command.pool.value else "prefork"
    head = f"celery worker: concurrency {text}, pool {pool}"
    if pool in ("threads", "gevent", "eventlet"):
        return Runner(1, n, "celery", head + f": 1 process of {n} threads", module)
    if pool == "solo":
        return Runner(1, 1, "celery", head + ": 1 process of 1 thread", module)
    return Runner(n, 1, "celery", head, module)
