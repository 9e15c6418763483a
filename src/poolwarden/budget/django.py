"""Django settings that decide connection counts, read from a settings module's tree.

:func:`read_databases` reads each ``DATABASES`` entry a module writes — ``DATABASES = {...}``,
``DATABASES["alias"] = ...``, and ``DATABASES["alias"]["OPTIONS"] = {...}`` or
``DATABASES["alias"]["CONN_MAX_AGE"] = ...`` after it — in any branch of an ``if``: the budget
counts the worst of them. Per entry: whether it is PostgreSQL (a literal ``ENGINE`` naming
postgres / postgis; an ``ENGINE`` that is not literal, or an entry built by a call such as
``dj_database_url.config()``, is counted as PostgreSQL and said so), the native pool
(``OPTIONS["pool"]``: ``True`` or a dict with ``min_size`` / ``max_size``), and ``CONN_MAX_AGE``
(absent: Django's default 0; ``dj_database_url``'s ``conn_max_age=`` keyword). Values read from
the environment are followed to their literal defaults (:mod:`poolwarden.budget.values`).

:func:`read_celery_concurrency` reads Celery's concurrency from a Django settings module
(``CELERY_WORKER_CONCURRENCY``, the old ``CELERYD_CONCURRENCY``) or a Celery config module
(``worker_concurrency``). This is a budget-only reading over plain ``ast``; ``check`` keeps its
own rule-neutral model of the same settings.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from poolwarden.budget.values import NOT_LITERAL, Number, follow, literal, module_names, shown
from poolwarden.check.scope import dotted_text

SETTING = "DATABASES"
#: psycopg_pool.ConnectionPool's defaults: min_size 4, max_size = min_size
POOL_MIN_SIZE_DEFAULT = 4
#: Celery's concurrency settings, in a Django settings module (namespace CELERY) or a config module
CELERY_CONCURRENCY_NAMES = frozenset({"CELERY_WORKER_CONCURRENCY", "CELERYD_CONCURRENCY", "worker_concurrency"})
#: builders of a DATABASES entry from a URL: their keyword for CONN_MAX_AGE (default 0)
_URL_BUILDERS = frozenset({"dj_database_url.config", "dj_database_url.parse", "db_url.config", "db_url.parse"})


@dataclass(frozen=True)
class Setting:
    """One key of an entry: its value (:data:`NOT_LITERAL` when not literal), where, and the env var behind it."""

    value: object
    where: str
    env: str | None = None
    text: str = ""

    def describe(self) -> str:
        env = f"; env {self.env} changes it" if self.env else ""
        shown = "not literal: `" + self.text + "`" if self.value is NOT_LITERAL else repr(self.value)
        return f"{shown} ({self.where}{env})"


@dataclass(frozen=True)
class Database:
    """One ``DATABASES`` entry as written in one place."""

    alias: str
    where: str  # path:line of the entry
    engine: str | None  # the literal ENGINE; None when not literal or built by a call
    built_by: str  # "" for a dict; the call's text otherwise ("dj_database_url.config()")
    pool: Setting | None  # OPTIONS["pool"]; None when absent
    min_size: Number | None
    max_size: Number | None
    conn_max_age: Setting | None  # None when absent (Django's default 0)
    options_hidden: str = ""  # why OPTIONS could not be read ("" when literal or absent)

    @property
    def from_url(self) -> bool:
        """Built by ``dj_database_url.config()`` / ``parse()``."""
        return self.built_by.removesuffix("()") in _URL_BUILDERS

    @property
    def postgres(self) -> bool:
        """PostgreSQL, or possibly (ENGINE not literal): counted either way."""
        return self.engine is None or "postg" in self.engine.lower()

    @property
    def pooled(self) -> bool:
        """Django's native pool is on (``OPTIONS["pool"]`` neither absent nor a literal false value)."""
        return self.pool is not None and (self.pool.value is NOT_LITERAL or bool(self.pool.value))

    @property
    def persistent(self) -> bool:
        """Connections kept between requests: ``CONN_MAX_AGE`` other than 0 (``None``: forever)."""
        if self.conn_max_age is None or self.conn_max_age.value is NOT_LITERAL:
            return False
        return self.conn_max_age.value != 0

    def pool_bounds(self) -> tuple[int, int, str]:
        """(min_size, max_size, how each was found) of the native pool, psycopg_pool's defaults filled in
        where a size is absent, not literal, or one psycopg_pool refuses (min_size < 0, max_size < 1)."""
        low, low_text = _size(self.min_size, 0, "min_size")
        high, high_text = _size(self.max_size, 1, "max_size")
        if high is None:
            high = low if low is not None else POOL_MIN_SIZE_DEFAULT
            high_text += f": psycopg_pool's default, max_size = min_size = {high}"
        if low is None:
            low = min(POOL_MIN_SIZE_DEFAULT, high)
            low_text += f": psycopg_pool's default {POOL_MIN_SIZE_DEFAULT}" + (
                f", at most max_size {high}" if high < POOL_MIN_SIZE_DEFAULT else "")
        if low > high:
            high_text += f" (below min_size {low}: psycopg_pool refuses it; counted as {low})"
            high = low
        return low, high, f"{high_text}, {low_text}"


def _size(number: Number | None, least: int, key: str) -> tuple[int | None, str]:
    if number is None:
        return None, f"{key} not set"
    if number.value is None:
        return None, f"{key} {number.describe()}"
    if number.value < least:
        return None, f"{key} {number.describe()} is not a size psycopg_pool accepts"
    return number.value, f"{key} {number.describe()}"


def _key(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict(node: ast.expr, names: dict[str, ast.expr] | None = None) -> dict[str, ast.expr] | None:
    """A literal dict's string keys (a key may be a module constant: ``{DEFAULT_ALIAS: ...}``)."""
    if not isinstance(node, ast.Dict):
        return None

    def key(k: ast.expr | None) -> str | None:
        if isinstance(k, ast.Name) and names is not None and k.id in names:
            k = names[k.id]
        return _key(k) if k is not None else None

    return {k: v for k, v in ((key(k), v) for k, v in zip(node.keys, node.values, strict=True)) if k}


def _path(target: ast.expr) -> list[str] | None:
    """``DATABASES["a"]["OPTIONS"]`` → ``["a", "OPTIONS"]``; None for anything else."""
    keys: list[str] = []
    while isinstance(target, ast.Subscript):
        key = _key(target.slice)
        if key is None:
            return None
        keys.append(key)
        target = target.value
    if not (isinstance(target, ast.Name) and target.id == SETTING):
        return None
    return list(reversed(keys))


class _Entry:
    """An entry being assembled from the assignments of one module."""

    def __init__(self, alias: str, node: ast.expr) -> None:
        self.alias, self.line = alias, node.lineno
        self.keys = _dict(node)  # None: built by a call (or otherwise not a literal dict)
        self.built = node
        self.options: dict[str, ast.expr] | None = None
        self.options_node: ast.expr | None = None
        if self.keys is not None and "OPTIONS" in self.keys:
            self.set_options(self.keys["OPTIONS"])

    def set_options(self, node: ast.expr) -> None:
        self.options_node, self.options = node, _dict(node)

    def assign(self, keys: list[str], value: ast.expr) -> None:
        if keys == ["OPTIONS"]:
            self.set_options(value)
        elif len(keys) == 1:
            if self.keys is None:
                self.keys = {}
            self.keys[keys[0]] = value
        elif keys[0] == "OPTIONS" and len(keys) == 2:
            if self.options is None:
                self.options = {}
            self.options[keys[1]] = value


def _callee(node: ast.expr) -> str:
    return dotted_text(node.func) if isinstance(node, ast.Call) else ""


def read_databases(tree: ast.Module, path: str) -> list[Database]:
    """Every ``DATABASES`` entry ``tree`` writes (see the module's docstring), in source order."""
    names = module_names(tree)
    entries: list[_Entry] = []
    current: dict[str, _Entry] = {}

    def start(alias: str, value: ast.expr) -> None:
        if isinstance(value, ast.Name) and value.id in names:  # DATABASES = {"default": DEFAULT_DB}
            value = names[value.id]
        if isinstance(value, (ast.Dict, ast.Call)):  # a string, a number…: not a Django entry
            current[alias] = _Entry(alias, value)
            entries.append(current[alias])

    assigns = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Assign) and len(n.targets) == 1),
                     key=lambda n: (n.lineno, n.col_offset))  # source order, nested blocks included
    for node in assigns:
        keys = _path(node.targets[0])
        if keys is None:
            continue
        if not keys:  # DATABASES = {...}
            for alias, value in (_dict(node.value, names) or {}).items():
                start(alias, value)
        elif len(keys) == 1:  # DATABASES["alias"] = ...
            start(keys[0], node.value)
        elif keys[0] in current:
            current[keys[0]].assign(keys[1:], node.value)
    return [_finish(e, names, path) for e in entries]


def _setting(node: ast.expr, names: dict[str, ast.expr], path: str) -> Setting:
    value, env = literal(node, names)
    return Setting(value, f"{path}:{node.lineno}", env, shown(node))


def _finish(entry: _Entry, names: dict[str, ast.expr], path: str) -> Database:
    where = f"{path}:{entry.line}"
    keys = entry.keys
    engine: str | None = None
    built_by = ""
    conn_max_age: Setting | None = None
    if keys is None or isinstance(entry.built, ast.Call):
        callee = _callee(entry.built)
        built_by = f"{callee}()" if callee else shown(entry.built, 60)
        if isinstance(entry.built, ast.Call) and callee in _URL_BUILDERS:
            for kw in entry.built.keywords:
                if kw.arg == "conn_max_age":
                    conn_max_age = _setting(kw.value, names, path)
                elif kw.arg == "engine":
                    value, _ = literal(kw.value, names)
                    engine = value if isinstance(value, str) else None
    if keys is not None:
        if "ENGINE" in keys:
            value, _ = literal(keys["ENGINE"], names)
            engine = value if isinstance(value, str) else None
        if "CONN_MAX_AGE" in keys:
            conn_max_age = _setting(keys["CONN_MAX_AGE"], names, path)
    pool: Setting | None = None
    min_size = max_size = None
    options = entry.options
    if options is not None and "pool" in options:
        node = options["pool"]
        pool = _setting(node, names, path)
        settings = _dict(node)
        if settings is not None:
            pool = Setting(True, f"{path}:{node.lineno}", None, "{...}")
            if "min_size" in settings:
                min_size = follow(settings["min_size"], names, path)
            if "max_size" in settings:
                max_size = follow(settings["max_size"], names, path)
    hidden = ""  # OPTIONS not literal: a pool may hide there
    if options is None and entry.options_node is not None:
        hidden = f"OPTIONS not literal: `{shown(entry.options_node, 60)}` ({path}:{entry.options_node.lineno})"
    return Database(entry.alias, where, engine, built_by, pool, min_size, max_size, conn_max_age, hidden)


def read_celery_concurrency(tree: ast.Module, path: str, *, cpus: int | None = None) -> list[Number]:
    """Module-level ``CELERY_WORKER_CONCURRENCY`` / ``CELERYD_CONCURRENCY`` / ``worker_concurrency``."""
    names = module_names(tree)
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in CELERY_CONCURRENCY_NAMES:
            found.append(follow(node.value, names, path, cpus=cpus))
    return found
