"""How many processes and threads serve the code: gunicorn, uvicorn and Celery worker commands.

Read from

- gunicorn config modules (a ``*.py`` file whose name contains ``gunicorn``, e.g.
  ``gunicorn.conf.py`` / ``gunicorn_config.py``): module-level ``workers``, ``threads``,
  ``worker_class``, ``worker_connections``, followed to literals as settings are
  (:mod:`poolwarden.budget.values`; ``multiprocessing.cpu_count() * 2 + 1`` with ``--cpus``);
- command lines in Procfiles, Dockerfiles (``CMD`` / ``ENTRYPOINT``, shell or JSON form), shell
  scripts (``*.sh``, ``entrypoint*`` / ``docker-entrypoint*``), supervisord configs
  (``supervisord*.conf``: ``command=…``) and compose files (one-line ``command:``), except those
  under a ``tests`` directory: ``gunicorn -w/--workers N --threads N -k/--worker-class CLASS
  --worker-connections N -c FILE``, ``uvicorn --workers N --limit-concurrency N``,
  ``hypercorn -w/--workers N``, ``daphne`` (ASGI, one process),
  ``celery ... worker -c/--concurrency N -P/--pool POOL --autoscale MAX,MIN``, ``uwsgi
  -p/--processes N --threads N`` and uWSGI ini files (``*uwsgi*.ini``, ``[uwsgi]``: ``processes``,
  ``threads``); ``python -m``
  forms too. ``$X`` is not literal (and named), ``${X:-4}``
  is 4 (and names X). The module a command runs is kept (``app``): a server's ``module:variable``
  argument, Celery's ``-A`` / ``--app``.

:func:`parse_command` reads one argv; a command split over lines with ``\\`` is joined first.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from poolwarden.budget.values import Number, follow, literal, module_names, shell_number

PROGRAMS = frozenset({"gunicorn", "uvicorn", "hypercorn", "daphne", "celery", "uwsgi"})
#: gunicorn config module names: ``gunicorn.conf.py``, ``gunicorn_config.py``, ``conf/gunicorn.py``…
_GUNICORN_CONFIG = re.compile(r"gunicorn.*\.py$")
_COMMAND_FILES = re.compile(r"^(Procfile.*|Dockerfile.*|.*\.dockerfile|.*\.sh|(docker-)?compose.*\.ya?ml|"
                            r"(docker-)?entrypoint.*|supervisord?.*\.conf|.*uwsgi.*\.ini)$", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_]\w*)=(?P<value>\S.*)$")
_VARIABLE = re.compile(r"\$\{(?P<braced>[A-Za-z_]\w*)\}|\$(?P<bare>[A-Za-z_]\w*)\b")
#: supervisord's ``command=…`` line (a program section of supervisord.conf)
_SUPERVISOR_COMMAND = re.compile(r"^\s*command\s*=\s*")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})
_MAX_COMMAND_FILE = 256 * 1024


@dataclass(frozen=True)
class Text:
    """A word read from code or a command line, and where."""

    value: str | None  # None: not literal
    where: str
    env: str | None = None


@dataclass(frozen=True)
class Command:
    """A server or worker process command, or a gunicorn config module (``program`` ``gunicorn``, ``config``)."""

    program: str  # gunicorn | uvicorn | hypercorn | daphne | celery
    where: str  # path:line
    workers: Number | None = None  # gunicorn -w, uvicorn --workers
    threads: Number | None = None  # gunicorn --threads
    worker_class: Text | None = None  # gunicorn -k
    worker_connections: Number | None = None  # gunicorn --worker-connections (gevent / eventlet)
    limit_concurrency: Number | None = None  # uvicorn --limit-concurrency
    concurrency: Number | None = None  # celery -c (or --autoscale's max)
    pool: Text | None = None  # celery -P
    config: str | None = None  # gunicorn -c FILE
    is_config: bool = False  # a gunicorn config module, not a command
    app: str | None = None  # the module it runs: gunicorn / uvicorn ``pkg.main:app``, celery ``-A pkg.worker``


_GUNICORN_OPTIONS = {"-w": "workers", "--workers": "workers", "--threads": "threads", "-k": "worker_class",
                     "--worker-class": "worker_class", "--worker-connections": "worker_connections",
                     "-c": "config", "--config": "config"}
_UVICORN_OPTIONS = {"--workers": "workers", "--limit-concurrency": "limit_concurrency"}
_HYPERCORN_OPTIONS = {"-w": "workers", "--workers": "workers"}
_CELERY_OPTIONS = {"-c": "concurrency", "--concurrency": "concurrency", "-P": "pool", "--pool": "pool",
                   "--autoscale": "autoscale", "-A": "app", "--app": "app"}
#: a server's application argument: ``module.path:variable`` (or a factory call)
_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):[A-Za-z_]\w*(\(.*\))?$")
#: uWSGI: ``-p/--processes/--workers N --threads N``; ``-w/--wsgi/--module MODULE`` names the app
_UWSGI_OPTIONS = {"-p": "workers", "--processes": "workers", "--workers": "workers", "--threads": "threads",
                  "-w": "app", "--wsgi": "app", "--module": "app"}
_UWSGI_INI_KEYS = {"processes": "workers", "workers": "workers", "threads": "threads", "module": "app",
                   "wsgi": "app"}
_TEXT_FIELDS = frozenset({"worker_class", "pool"})


def _program(word: str) -> str | None:
    name = os.path.basename(word)
    return name if name in PROGRAMS else None


def parse_command(argv: Sequence[str], where: str) -> Command | None:
    """The server or worker that ``argv`` starts (``gunicorn …``, ``python -m uvicorn …``,
    ``celery -A app worker …``), or None. Words after a shell separator are not read."""
    words = list(argv)
    for i, word in enumerate(words):
        program = _program(word)
        if program is None and word == "-m" and i + 1 < len(words):
            program = _program(words[i + 1])
            i += 1
        if program is None:
            continue
        rest = []
        for w in words[i + 1:]:
            if w in _SEPARATORS:
                break
            rest.append(w)
        if program == "celery" and "worker" not in rest:
            return None  # beat, flower, inspect…: not a worker pool
        return _options(program, rest, where)
    return None


def _options(program: str, words: list[str], where: str) -> Command:
    table = {"gunicorn": _GUNICORN_OPTIONS, "uvicorn": _UVICORN_OPTIONS, "hypercorn": _HYPERCORN_OPTIONS,
             "daphne": {}, "celery": _CELERY_OPTIONS, "uwsgi": _UWSGI_OPTIONS}[program]
    found: dict[str, object] = {}
    i = 0
    while i < len(words):
        word, value = words[i], None
        if word.startswith("--") and "=" in word:
            word, value = word.split("=", 1)
        elif word.startswith("-") and not word.startswith("--") and len(word) > 2 and word[:2] in table:
            word, value = word[:2], word[2:]  # -w4, -c8
        if word in table:
            if value is None:
                if i + 1 >= len(words):
                    break
                value = words[i + 1]
                i += 1
            key = table[word]
            if key == "autoscale":  # --autoscale=MAX,MIN: the most processes it grows to
                found["concurrency"] = shell_number(value.split(",")[0], where)
            elif key in _TEXT_FIELDS:
                number = shell_number(value, where)
                literal_word = value if number.env is None else None
                found[key] = Text(literal_word, where, number.env)
            elif key == "config":
                found[key] = value
            elif key == "app":
                found[key] = value.partition(":")[0] or None
            else:
                found[key] = shell_number(value, where)
        elif program not in ("celery", "uwsgi") and "app" not in found and _APP_SPEC.match(word):
            found["app"] = _APP_SPEC.match(word).group("module")  # type: ignore[union-attr]
        i += 1
    return Command(program, where, **found)  # type: ignore[arg-type]


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with ``\\`` continuations joined."""
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield start, buffer + line
        buffer = ""
    if buffer:
        yield start, buffer


def _words(line: str) -> list[str] | None:
    bracket = line.find("[")
    if bracket >= 0 and line.rstrip().endswith("]"):  # CMD ["gunicorn", "-w", "4"] / command: ["celery", …]
        try:
            words = json.loads(line[bracket:])
        except ValueError:
            words = None
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            return [part for w in words for part in (_split(w) if " " in w else [w])]
    return _split(line)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote: read no command from this line
        return []


def _assigned(line: str, assigned: dict[str, str]) -> None:
    """Record a shell assignment ``X=4`` / ``X="${X:-4}"`` / ``export X=4`` (one word, no command after it)."""
    match = _ASSIGNMENT.match(line)
    if match is None:
        return
    words = _split(match.group("value"))
    if len(words) == 1:
        assigned[match.group("name")] = words[0]


def _substituted(line: str, assigned: dict[str, str]) -> str:
    """``$X`` / ``${X}`` replaced by what an earlier line of the script assigned to ``X``."""
    if not assigned or "$" not in line:
        return line

    def value(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        return assigned.get(name, match.group(0))

    return _VARIABLE.sub(value, line)


def read_command_file(text: str, path: str) -> list[Command]:
    """The commands a Procfile, Dockerfile, shell script or compose file starts (one per line). In a
    script, ``$X`` after an assignment ``X="${X:-4}"`` (or ``X=4``) reads as what was assigned."""
    if path.lower().endswith(".ini"):
        return read_uwsgi_ini(text, path)
    found = []
    assigned: dict[str, str] = {}
    for number, line in _logical_lines(text):
        _assigned(line, assigned)
        if not any(p in line for p in PROGRAMS):
            continue
        line = _substituted(line, assigned)
        words = _words(_SUPERVISOR_COMMAND.sub("", line, count=1))
        if words:
            command = parse_command(words, f"{path}:{number}")
            if command is not None:
                found.append(command)
    return found


def read_uwsgi_ini(text: str, path: str) -> list[Command]:
    """The uWSGI server a ``[uwsgi]`` ini file describes (``processes`` / ``workers``, ``threads``,
    ``module``), or nothing when it sets none of them. uWSGI reads any option from the environment
    too (``UWSGI_PROCESSES``…): the notes name that variable."""
    found: dict[str, object] = {}
    section, first = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if section != "uwsgi" or not sep or key not in _UWSGI_INI_KEYS or key in found:
            continue
        first = first or number
        field = _UWSGI_INI_KEYS[key]
        if field == "app":
            found[field] = value.partition(":")[0] or None
        else:
            read = shell_number(value, f"{path}:{number}")
            found[field] = Number(read.value, read.where, read.env or f"UWSGI_{key.upper()}", read.text)
    if not any(k in found for k in ("workers", "threads")):
        return []
    return [Command("uwsgi", f"{path}:{first}", **found)]  # type: ignore[arg-type]


def is_command_file(name: str) -> bool:
    """Whether a file of this name may hold process commands (read by :func:`read_command_file`)."""
    return bool(_COMMAND_FILES.match(name)) and not name.endswith((".py", ".pyi"))


def is_gunicorn_config(name: str) -> bool:
    return bool(_GUNICORN_CONFIG.search(name))


def read_gunicorn_config(tree: ast.Module, path: str, *, cpus: int | None = None) -> Command | None:
    """The module-level ``workers`` / ``threads`` / ``worker_class`` / ``worker_connections`` of a
    gunicorn config module, or None when it sets none of them."""
    names = module_names(tree)
    found: dict[str, object] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        key = node.targets[0].id
        if key in ("workers", "threads", "worker_connections"):
            found[key] = follow(node.value, names, path, cpus=cpus)
        elif key == "worker_class":
            value, env = literal(node.value, names)
            found[key] = Text(value if isinstance(value, str) else None, f"{path}:{node.lineno}", env)
    if not found:
        return None
    return Command("gunicorn", path, is_config=True, **found)  # type: ignore[arg-type]


def read_limit(path: str) -> str | None:
    """The text of a command file, or None when it is too big, not text, or unreadable."""
    try:
        if os.path.getsize(path) > _MAX_COMMAND_FILE:
            return None
        with open(path, "rb") as handle:
            data = handle.read(_MAX_COMMAND_FILE + 1)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
