"""``budget --code PATH``: pool settings and Celery schedules read from code where they are literal.

The scan reuses the analyzer's walk (imports resolved the same way as ``check``): engine and
pool constructors with their literal ``pool_size`` / ``max_overflow`` (or ``max_size``, or
psycopg2's ``minconn, maxconn``; poolwarden's own engines with their bounded defaults, and an
``EngineRegistry`` as its ``max_connections``), Celery's ``worker_concurrency``, and ``beat_schedule`` entries
whose ``schedule`` is a number of seconds or a literal ``timedelta(...)``. A pool argument read
from settings is followed across modules to its literal default (:mod:`poolwarden.budget.settings`);
a value that is not literal is reported as such and counted at the library's default.

Engines that run once rather than in a service — migrations, scripts, tests, ``__main__`` blocks,
NullPool — are listed apart (:func:`one_shot_reason`). Paths are reported relative to the current
directory.

A Django project is read too: its ``DATABASES`` entries (:mod:`poolwarden.budget.django`), the
gunicorn / uvicorn / Celery commands and gunicorn config modules that say how many processes and
threads run it (:mod:`poolwarden.budget.commands`), and the services they make
(:mod:`poolwarden.budget.serving`), with values followed through environment lookups to their
literal defaults (:mod:`poolwarden.budget.values`).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.budget import commands as C
from poolwarden.budget.commands import Command
from poolwarden.budget.django import Database, read_celery_concurrency, read_databases
from poolwarden.budget.settings import SettingsIndex
from poolwarden.budget.values import Number, follow, module_names, shown
from poolwarden.check import knowledge as K
from poolwarden.check import source as S
from poolwarden.check.context import FileContext
from poolwarden.check.dicts import Lookup, Opaque, lookup
from poolwarden.check.display import display_path
from poolwarden.check.files import discover
from poolwarden.check.modules import module_name
from poolwarden.check.rule import Rule
from poolwarden.check.scope import dotted_text
from poolwarden.check.walk import Walker


@dataclass(frozen=True)
class CodePool:
    """An engine or pool constructor found in code."""

    where: str  # path:line
    name: str  # the variable it is assigned to, or the constructor
    pool_size: int | None  # None: not literal (or not given)
    max_overflow: int | None
    unpooled: bool = False  # NullPool / StaticPool
    one_shot: str = ""  # why it runs once, not in a service (a migration, a script, a test…); "" if it serves
    size: Number | None = None  # pool_size as followed to settings (None: not given)
    overflow: Number | None = None
    library: str = "sqlalchemy"  # whose defaults apply: sqlalchemy | asyncpg | psycopg_pool | fixed
    module: str = ""  # the dotted module it is made in


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
    flask: dict[str, Number] = field(default_factory=dict)  # Flask-SQLAlchemy's pool config: pool_size / max_overflow
    index: SettingsIndex = field(default_factory=SettingsIndex)  # the modules read, to follow settings


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


#: SQLAlchemy's engines made from a config dict (Alembic's env.py makes its engine so)
_FROM_CONFIG = frozenset({"sqlalchemy.engine_from_config", "sqlalchemy.engine.engine_from_config",
                          "sqlalchemy.ext.asyncio.async_engine_from_config"})
#: Flask-SQLAlchemy's app-config keys for the engine's pool (2.x), and its engine-options key
FLASK_POOL_KEYS = {"SQLALCHEMY_POOL_SIZE": "pool_size", "SQLALCHEMY_MAX_OVERFLOW": "max_overflow"}
_ONE_SHOT_DIRS = frozenset({"scripts", "bin"})


def _flask_sqlalchemy(target: str, ctx: FileContext) -> bool:
    """Flask-SQLAlchemy's extension, or a class of this module derived from it (as check's PW106 reads it)."""
    if target in K.FLASK_SQLALCHEMY:
        return True
    module, _, name = target.rpartition(".")
    bases = ctx.summary.classes.get(name, ()) if module == ctx.module else ()
    return any(base in K.FLASK_SQLALCHEMY for base in bases)


def one_shot_reason(ctx: FileContext, relative: str, unpooled: bool) -> str:
    """Why an engine made here is not part of a running service, or "" (see :func:`apply`)."""
    parts = relative.replace("\\", "/").split("/")
    name, dirs = parts[-1], parts[:-1]
    if ctx.is_test:
        return "a test module"
    if name == "env.py" and any("alembic" in d.lower() or "migration" in d.lower() for d in dirs):
        return "Alembic migrations (env.py)"
    if any(target == "alembic.context" or target.startswith("alembic.context.") for target in ctx.imports.values()):
        return "Alembic migrations (imports alembic.context)"
    if name == "manage.py" or "/management/commands/" in "/" + "/".join(dirs) + "/":
        return "a one-shot command (manage.py / a management command)"
    script_dir = next((d for d in dirs if d in _ONE_SHOT_DIRS), None)
    if script_dir is not None:
        return f"a script under {script_dir}/"
    if ctx.main_guard:
        return 'run by hand (under `if __name__ == "__main__":`)'
    if unpooled:
        return "NullPool / StaticPool / PgBouncer mode: one connection per use, not a pool"
    return ""


class _Collector(Rule):
    CODE = "PW900"  # internal: never reported
    NAME = "budget-scan"
    NODES = (ast.Call, ast.Assign)

    def __init__(self, facts: CodeFacts) -> None:
        self.facts = facts
        self.tree: ast.Module | None = None
        self.relative = ""  # the file's path relative to the --code argument it was found under
        self._names: dict[str, ast.expr] | None = None
        self.cpus: int | None = None
        self.pending: list[tuple[int, Callable[[], Number | None], Callable[[], Number | None]]] = []

    def start(self, tree: ast.Module, relative: str) -> None:
        """A new file: its tree (module names are read from it when a value is followed)."""
        self.tree, self.relative, self._names = tree, relative, None

    def names(self) -> dict[str, ast.expr]:
        if self._names is None:
            self._names = module_names(self.tree) if self.tree is not None else {}
        return self._names

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
        if callee in K.SQLALCHEMY_ENGINES or callee in _FROM_CONFIG:
            poolclass = keywords.get("poolclass")
            unpooled = poolclass is not None and dotted_text(poolclass).rpartition(".")[2] in K.UNPOOLED
            splats = [kw.value for kw in node.keywords if kw.arg is None]
            self._pool(where, node, keywords.get("pool_size"), keywords.get("max_overflow"), unpooled, ctx,
                       splats=splats)
        elif _flask_sqlalchemy(callee, ctx):  # the engine is made from the app config and engine_options
            options = keywords.get("engine_options")
            given = {k.value: v for k, v in zip(options.keys, options.values, strict=True)
                     if isinstance(k, ast.Constant)} if isinstance(options, ast.Dict) else {}
            self._pool(where, node, given.get("pool_size"), given.get("max_overflow"), False, ctx,
                       library="flask_sqlalchemy")
        elif callee in _POOLWARDEN_ENGINES:  # runtime.engine: bounded defaults, 5 + 0
            pgbouncer = keywords.get("pgbouncer")
            self._pool(where, node, keywords.get("pool_size", ast.Constant(5)),
                       keywords.get("max_overflow", ast.Constant(0)),
                       isinstance(pgbouncer, ast.Constant) and pgbouncer.value is True, ctx, library="fixed")
        elif callee == "poolwarden.runtime.tenants.EngineRegistry":  # capped across all its tenants
            self._pool(where, node, keywords.get("max_connections", ast.Constant(20)), ast.Constant(0), False, ctx,
                       library="fixed")
        elif callee in K.ASYNCPG_POOLS:
            self._pool(where, node, keywords.get("max_size"), ast.Constant(0), False, ctx, library="asyncpg")
        elif callee in K.SIZED_POOLS:
            self._pool(where, node, keywords.get("max_size", keywords.get("min_size")), ast.Constant(0), False, ctx,
                       library="psycopg_pool")
        elif callee in K.LIBPQ_POOLS and len(node.args) >= 2:
            self._pool(where, node, node.args[1], ast.Constant(0), False, ctx, library="fixed")
        elif callee == _CELERY_APP:
            self.facts.celery_apps.append(where)
        name = dotted_text(node.func).rpartition(".")[2]
        if name == "update" and "worker_concurrency" in keywords:
            self._concurrency(keywords["worker_concurrency"], node, ctx)
        if "beat_schedule" in keywords and isinstance(keywords["beat_schedule"], ast.Dict):
            self._schedule(keywords["beat_schedule"], ctx)

    def _follow(self, value: ast.expr | None, ctx: FileContext) -> Callable[[], Number | None]:
        """``value`` followed to a literal: here, through settings and across modules. Deferred: the
        settings module may be read after this one, so the answer is asked for once the scan is done."""
        if value is None:
            return lambda: None
        literal = _literal_int(value)
        where = f"{ctx.path}:{getattr(value, 'lineno', 0)}"
        if literal is not None:
            return lambda: Number(literal, where)
        head = value
        while isinstance(head, ast.Attribute):
            head = head.value
        if isinstance(head, ast.Name) and any(head.id in s.locals for s in ctx.scopes if s.node is not None):
            text = shown(value)
            return lambda: Number(None, where, None, text)  # a parameter or a local: not followed
        index, names, cpus = self.facts.index, self.names(), self.cpus
        module, root, imports, path = ctx.module, ctx.root, ctx.imports, ctx.path
        return lambda: index.follow(value, module, root, imports, names, path, cpus=cpus)

    def _splatted(self, splats: list[ast.expr], key: str, ctx: FileContext) -> Callable[[], Number | None]:
        """``key`` in the ``**options`` of a call, read as check reads option dicts
        (:func:`poolwarden.check.dicts.lookup`); the largest value it may take, each followed to settings."""
        where = ctx.function.node or self.tree
        helpers = {f.name: f for f in (self.tree.body if self.tree is not None else [])
                   if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        found = Lookup()
        for splat in splats:
            found.add(lookup(splat, key, ctx, where, helpers))
        if not found.values:
            if found.opaque is Opaque.NONE:
                return lambda: None
            text, line = shown(splats[0]), f"{ctx.path}:{getattr(splats[0], 'lineno', 0)}"
            return lambda: Number(None, line, None, f"**{text}")
        each = [(self._follow(value.expr, ctx), shown(value.expr)) for value in found.values]

        def largest() -> Number | None:  # a literal in the dict says where it is written, as settings do
            numbers = [n if n.text else dataclasses.replace(n, text=text)
                       for n, text in ((f(), text) for f, text in each) if n is not None]
            unknown = next((n for n in numbers if n.value is None), None)
            if unknown is not None or not numbers:
                return unknown
            return max(numbers, key=lambda n: n.value or 0)

        return largest

    def _pool(self, where: str, node: ast.Call, size: ast.expr | None, overflow: ast.expr | None,
              unpooled: bool, ctx: FileContext, library: str = "sqlalchemy",
              splats: list[ast.expr] | None = None) -> None:
        label = f"{dotted_text(node.func)}()"
        # a poolclass set in an options dict (often in one branch: `if USE_NULL_POOL:`) is not read:
        # the worst case counts the pool
        reason = one_shot_reason(ctx, self.relative, unpooled)
        if not reason:
            size_of = self._follow(size, ctx) if size is not None or not splats else \
                self._splatted(splats, "pool_size", ctx)
            overflow_of = self._follow(overflow, ctx) if overflow is not None or not splats else \
                self._splatted(splats, "max_overflow", ctx)
            self.pending.append((len(self.facts.pools), size_of, overflow_of))
        self.facts.pools.append(CodePool(where, label, _literal_int(size) if size is not None else None,
                                         _literal_int(overflow) if overflow is not None else None, unpooled,
                                         reason, library=library, module=ctx.module))

    def finish(self) -> None:
        """Follow the pools' settings now that every module is known."""
        for i, size, overflow in self.pending:
            self.facts.pools[i] = dataclasses.replace(self.facts.pools[i], size=size(), overflow=overflow())
        self.pending.clear()

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

    collector.cpus = cpus
    seen: set[str] = set()
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(saved, 8000))  # as check's workers: deep but valid code is walked, not lost
    try:
        for arg in paths:
            for path in discover([arg], onerror=unlistable):
                if str(path) in seen:
                    continue
                seen.add(str(path))
                shown_path = display_path(str(path))
                loaded = S.load(path)
                if isinstance(loaded, S.Failure):
                    skip(shown_path, loaded)
                    continue
                module, is_package, root = module_name(path)
                ctx = FileContext(shown_path, module, is_package, root)
                collector.start(loaded.tree, _under(str(path), arg))
                try:
                    Walker(ctx, [collector]).run(loaded.tree)
                    _settings(facts, loaded, ctx, cpus)
                except RecursionError:
                    skip(shown_path, S.Failure("too-deep", "cannot analyse: nesting too deep to analyse"))
                facts.index.add(module, shown_path, str(path), ctx.imports, root)
        collector.finish()
        facts.pools = [dataclasses.replace(p, size=p.size or facts.flask.get("pool_size"),
                                           overflow=p.overflow or facts.flask.get("max_overflow"))
                       if p.library == "flask_sqlalchemy" and not p.one_shot else p for p in facts.pools]
    finally:
        sys.setrecursionlimit(saved)
    for arg in paths:
        for path in discover([arg], onerror=unlistable, accept=C.is_command_file):
            if str(path) in seen:
                continue
            seen.add(str(path))
            if any(part in K.TEST_PACKAGES for part in Path(_under(str(path), arg)).parts[:-1]):
                continue  # a test fixture's Dockerfile or script runs no service of the project
            text = C.read_limit(str(path)) if C.is_command_file(path.name) else None
            if text is not None:
                facts.commands.extend(C.read_command_file(text, display_path(str(path))))
    return facts


def _under(path: str, arg: str) -> str:
    """``path`` relative to the ``--code`` argument it was found under (its own name for a file argument)."""
    if os.path.isdir(arg):
        try:
            return os.path.relpath(path, arg)
        except ValueError:
            return os.path.basename(path)
    return os.path.basename(path)


def _settings(facts: CodeFacts, loaded: S.Parsed, ctx: FileContext, cpus: int | None) -> None:
    """The Django and Celery settings and the gunicorn config a module holds."""
    if ctx.is_test:
        return
    if b"DATABASES" in loaded.source:
        facts.databases.extend(read_databases(loaded.tree, ctx.path))
    if b"CONCURRENCY" in loaded.source or b"worker_concurrency" in loaded.source:
        facts.celery_settings.extend(read_celery_concurrency(loaded.tree, ctx.path, cpus=cpus))
    if b"SQLALCHEMY_" in loaded.source:
        _flask_config(facts, loaded.tree, ctx.path, cpus)
    if C.is_gunicorn_config(ctx.path.replace("\\", "/").rpartition("/")[2]):
        found = C.read_gunicorn_config(loaded.tree, ctx.path, cpus=cpus)
        if found is not None:
            facts.commands.append(found)


def _flask_config(facts: CodeFacts, tree: ast.Module, path: str, cpus: int | None) -> None:
    """Module-level ``SQLALCHEMY_POOL_SIZE`` / ``SQLALCHEMY_MAX_OVERFLOW`` and the ``pool_size`` /
    ``max_overflow`` of ``SQLALCHEMY_ENGINE_OPTIONS``: the pool of a Flask-SQLAlchemy engine."""
    names = module_names(tree)
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        key = node.targets[0].id
        if key in FLASK_POOL_KEYS:
            facts.flask.setdefault(FLASK_POOL_KEYS[key], follow(node.value, names, path, cpus=cpus))
        elif key == K.FLASK_ENGINE_OPTIONS and isinstance(node.value, ast.Dict):
            for k, v in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(k, ast.Constant) and k.value in ("pool_size", "max_overflow"):
                    facts.flask.setdefault(str(k.value), follow(v, names, path, cpus=cpus))
