"""PW106 connect-without-timeout: a libpq-family connect with no connect timeout."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check.args import dict_keys, keyword, string_value
from poolwarden.check.context import FileContext
from poolwarden.check.dicts import Helpers, Lookup, Opaque, Value, lookup
from poolwarden.check.django_settings import judge_module
from poolwarden.check.django_verdicts import CONNECT_TIMEOUT_ADVICE
from poolwarden.check.finding import Deferred, Pending, Severity
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import dotted_text

_WORD = K.CONNECT_TIMEOUT_WORD
_TARGETS = K.LIBPQ_CONNECTS | K.LIBPQ_POOLS | K.SQLALCHEMY_ENGINES
if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = CONNECT_TIMEOUT_ADVICE


@dataclass(frozen=True)
class HiddenOptions(Deferred):
    """A connect whose options project code builds out of sight: the finding's whole message."""

    message: str
    settings: bool = False  # a Django DATABASES entry: decided by the project's settings, not its DSNs
    root: str = ""  # ... of the project under this root


class ConnectWithoutTimeout(Rule):
    CODE = "PW106"
    NAME = "connect-without-timeout"
    SUMMARY = "A psycopg / psycopg2 connection, pool or engine without a connect timeout."
    WHAT = """
Flags `psycopg.connect`, `psycopg.AsyncConnection.connect`, `psycopg2.connect`, psycopg_pool
and psycopg2 pools, and SQLAlchemy engines on a libpq driver (`postgresql://`,
`postgresql+psycopg2://`, `postgresql+psycopg://`) that set no `connect_timeout`: not as a
keyword, not in `connect_args` / `kwargs`, not in the DSN or URL. asyncpg is not flagged: it
has its own 60 s default. A DSN or URL the code does not spell out (read from settings or env,
built by a helper or `make_url()`) is reported as a warning that says so: it may carry
`connect_timeout` itself. For engines that holds for synchronous `create_engine`, and for an async
engine only in a module that names psycopg's async driver (`postgresql+psycopg://`); elsewhere an
async engine's URL most likely names asyncpg.

A DSN built by project code (`dsn = self.manager.connection_string(db)`, then `connect(dsn)`) is
decided like options built from project data, below: a warning only when no code of the checked
project sets `connect_timeout` anywhere.

Options built before the call are followed through the function: a local dict (`opts = {...}`,
`opts["connect_args"] = {...}`, `opts.update(...)`) splatted with `**opts`, and into the module's
own helpers (a dict one returns, also as an item of a returned tuple, or fills when handed it, with
keys its caller names: `_require_ssl(args, "sslmode")`). When part of them is
project data the call cannot see (a wrapper's `**kwargs`, a helper's dict, an object's attribute),
the call is reported as a warning only if no code of the checked project sets `connect_timeout`
anywhere (a `"connect_timeout"` key or DSN text, or a `connect_timeout=` keyword handed to project
code; test modules aside). Options read from outside the code (a file, the environment, a library
call) are trusted.

psycopg2's asynchronous connect (`async_=True`) is reported whatever its options say: libpq's
non-blocking connect ignores `connect_timeout`, so only a deadline in the poll loop bounds it.

Test code (`test_*.py`, `conftest.py`, modules of a `tests` / `test` package) is not checked: it
connects to a database the test run set up, in front of someone who sees it hang.

Flask-SQLAlchemy's `SQLAlchemy(engine_options={...})` (or a class derived from it in the same
module), and `app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {...}` (or a config class's
`SQLALCHEMY_ENGINE_OPTIONS`) in a module with database code, are a warning when the options they
spell out set no `connect_args` `connect_timeout`.

Django settings (read as PW109 and PW110 read them, judged by the same function as the system check
`poolwarden.PW106` of `poolwarden.runtime.django`): a module-level `DATABASES` entry whose `ENGINE` is
PostgreSQL's (`django.db.backends.postgresql`, PostGIS's, or a third-party engine wrapping it) and
whose `OPTIONS` set no `connect_timeout` is reported on its `ENGINE` line; an entry from
dj-database-url's `config()` / `parse()` or django-environ's `env.db()` is a warning (the URL's query
becomes `OPTIONS`); `DATABASES["x"]["OPTIONS"] = {...}` replaces the entry's options and is reported
when it sets no `connect_timeout` on a PostgreSQL entry (a literal PostgreSQL `ENGINE`, a URL
helper's entry, or options only libpq takes, such as `application_name` or `sslmode`). A settings
module that names `connect_timeout` anywhere is trusted, and so is every entry of a project where
another module writing `DATABASES` names it (split settings: `production.py` setting the timeout in
`base.py`'s entry) or where code names libpq's `PGCONNECT_TIMEOUT` (set in the environment, it times
every connect).
"""
    WHY = """
libpq's default connect timeout is infinite, and the timeout it has applies to each host or
IP address in turn. In the seed incident, requests hung 24 minutes while psycopg retried 12
Neon IP addresses, each with its own timeout, and only restarting the machines helped.
A timeout turns a hang into an error the application can answer with 503 and retry.
"""
    EXAMPLE = """
conn = psycopg.connect(settings.DATABASE_URL)
"""
    USE_INSTEAD = """
conn = psycopg.connect(settings.DATABASE_URL, connect_timeout=5)
"""
    NODES = (ast.Call, ast.Module, ast.Assign)
    DEFERRED = HiddenOptions
    _module: ast.Module | None = None  # the file being walked (rule objects are fresh per file)
    _libpq_async: bool | None = None
    _functions: Helpers | None = None

    VALID = [
        example("""
import psycopg

conn = psycopg.connect(DATABASE_URL, connect_timeout=5)
"""),
        example("""
import psycopg2

conn = psycopg2.connect("host=db dbname=app connect_timeout=5")
"""),
        example("""
from sqlalchemy import create_engine

engine = create_engine(
    "postgresql+psycopg://db/app",
    connect_args={"connect_timeout": 5},
    pool_size=5, max_overflow=0, pool_timeout=5,
)
"""),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=5, max_overflow=0, pool_timeout=5)
""", note="near miss: asyncpg has its own connect timeout"),
        example("""
from psycopg_pool import ConnectionPool

pool = ConnectionPool("dbname=app", kwargs={"connect_timeout": 5}, max_size=10)
"""),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine
from .settings import settings

engine = create_async_engine(settings.DATABASE_URL, pool_size=5, max_overflow=0, pool_timeout=5)
""", note="near miss: an async engine's URL from settings most likely names asyncpg"),
        example("""
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy(engine_options={"pool_size": 5, "connect_args": {"connect_timeout": 5}})
"""),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "OPTIONS": {"connect_timeout": 5},
    },
    "local": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"},
}
""", note="Django settings: a PostgreSQL entry with a connect timeout, and a SQLite one"),
        example("""
from .config import database_entry

DATABASES = {"default": database_entry()}
DATABASES["default"]["OPTIONS"] = {"init_command": "SET sql_mode='STRICT_TRANS_TABLES'"}
""", note="near miss: OPTIONS no PostgreSQL entry takes, on an engine built elsewhere",
            config="def database_entry():\n    return {'ENGINE': 'django.db.backends.mysql', 'NAME': 'app'}\n"),
        example("""
from sqlalchemy import create_engine

def make_engine(url):
    options = {"pool_size": 5, "max_overflow": 0, "pool_timeout": 5}
    options["connect_args"] = {"application_name": "api"}
    options["connect_args"]["connect_timeout"] = 5
    options.update(connect_args={"application_name": "api", "connect_timeout": 5})
    return create_engine(url, **options)
""", note="a local options dict that sets the timeout"),
        example("""
import psycopg

def app_connection(*args, **kwargs):
    kwargs.update(application_name="app")
    return psycopg.connect(*args, **kwargs)
""", note="near miss: a wrapper whose caller passes connect_timeout",
            jobs="from .example import app_connection\n\nconn = app_connection('dbname=app', connect_timeout=5)\n"),
        example("""
import json
import os
from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"], **json.loads(os.environ["ENGINE_OPTIONS"]))
""", note="near miss: options read from outside the code may carry the timeout"),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

def build_engine(url: str):
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"check_same_thread": False})
    psycopg = url.startswith("postgresql+psycopg://")
    return create_async_engine(url, connect_args={"connect_timeout": 5} if psycopg else {})
""", note="near miss: the SQLite branch of a module that names psycopg's async driver"),
        example("""
from sqlalchemy import create_engine

def _set_option(args, key, value):
    args[key] = value

def _engine_config(url):
    args = {"application_name": "api"}
    _set_option(args, "connect_timeout", 5)
    return url, args

def ssh_options(host):
    return {"host": host, "connect_timeout": 10}

def build_engine(database_url):
    url, connect_args = _engine_config(database_url)
    return create_engine(url, connect_args=connect_args, pool_size=5, max_overflow=0, pool_timeout=5)
""", note="the module's own helpers set the timeout, with a key their caller names"),
        example("""
from .models import db

class Config:
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 5, "connect_args": {"connect_timeout": 5}}

def configure_db(app):
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
    db.init_app(app)
""", models="from flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n"),
        example("""
import psycopg
from .servers import ServerManager

class Connection:
    def __init__(self, manager: ServerManager):
        self.manager = manager

    def connect(self, database):
        manager = self.manager
        dsn = manager.connection_string(database)
        return psycopg.connect(dsn)
""", note="the DSN is built by project code, and the project sets `connect_timeout` (here: the server "
            "defaults) — the DSN carries it",
            servers="DEFAULTS = {'sslmode': 'prefer', 'connect_timeout': 10}\n\nclass ServerManager:\n"
                    "    def __init__(self, host):\n        self.params = dict(DEFAULTS, host=host)\n\n"
                    "    def connection_string(self, database):\n"
                    "        return ' '.join(f'{k}={v}' for k, v in dict(self.params, dbname=database).items())\n"),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "HOST": "db",
    }
}
""", note="split settings: production.py (star-importing this base) sets the entry's connect_timeout",
            production="from .example import *  # noqa: F403\n\nDATABASES['default']['OPTIONS'] = "
                       "{'connect_timeout': 5, 'sslmode': 'require'}\n"),
        example("""
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "app"}}
""", note="libpq's PGCONNECT_TIMEOUT, set by the project's asgi.py, times every connect",
            asgi="import os\n\nfrom django.core.asgi import get_asgi_application\n\n"
                 "os.environ.setdefault('PGCONNECT_TIMEOUT', '5')\napplication = get_asgi_application()\n"),
    ]
    INVALID = [
        example("""
from flask_sqlalchemy import SQLAlchemy

class AppSQLAlchemy(SQLAlchemy):
    pass

db = AppSQLAlchemy(engine_options={"pool_size": 5, "max_overflow": 0})  # error
""", note="a warning: Flask-SQLAlchemy's engine options are spelled out, its URI is not"),
        example("""
from sqlalchemy import create_engine
from .settings import settings

engine = create_engine(settings.DATABASE_URL, pool_size=5, max_overflow=0, pool_timeout=5)  # error
""", note="a warning: the URL, read from settings, may carry connect_timeout itself"),
        example("""
import psycopg

conn = psycopg.connect(DATABASE_URL)  # error
"""),
        example("""
import psycopg

async def listen():
    conn = await psycopg.AsyncConnection.connect(DATABASE_URL, autocommit=True)  # error
    await conn.close()
"""),
        example("""
from sqlalchemy import create_engine

engine = create_engine(  # error
    "postgresql+psycopg2://app@db/app",
    pool_size=5, max_overflow=0, pool_timeout=5,
)
"""),
        example("""
import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 10, "dbname=app")  # error
"""),
        example("""
import os
from sqlalchemy import create_engine

URL = os.environ.get("DATABASE_URL", "postgresql://localhost/app")
engine = create_engine(URL, pool_size=5, max_overflow=0, pool_timeout=5)  # error
"""),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # error
        "NAME": "app",
        "HOST": "db",
    }
}
""", note="Django settings: the PostgreSQL entry's OPTIONS set no connect_timeout"),
        example("""
import os

import dj_database_url

DATABASES = {"default": dj_database_url.config()}  # error
if os.environ.get("REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(os.environ["REPLICA_URL"])  # error
""", note="a warning: the URL's query may carry connect_timeout"),
        example("""
from .config import database_entry

DATABASES = {}
DATABASES["default"] = database_entry()
DATABASES["default"]["OPTIONS"] = {"application_name": "app"}  # error
""", note="OPTIONS only PostgreSQL takes replace the entry's options and set no timeout",
            config="def database_entry():\n    return {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'app'}\n"),
        example("""
from sqlalchemy import create_engine

def make_engine():
    options = {"pool_size": 5, "max_overflow": 0, "pool_timeout": 5}
    options["connect_args"] = {"application_name": "api"}
    return create_engine("postgresql+psycopg2://db/app", **options)  # error
""", note="the options are a local dict: every key is visible"),
        example("""
import psycopg

def app_connection(*args, **kwargs):
    kwargs.update(application_name="app")
    return psycopg.connect(*args, **kwargs)  # error
""", note="a warning: a wrapper's caller could pass connect_timeout, but no code of the project does",
            jobs="from .example import app_connection\n\nconn = app_connection('dbname=app')\n"),
        example("""
from sqlalchemy import create_engine

from .connect_args import base_connect_args

def init_engine(url, **extra):
    options = {"pool_size": 5, "max_overflow": 0, "pool_timeout": 5}
    options["connect_args"] = base_connect_args()
    options.update(extra)
    return create_engine(url, **options)  # error
""", note="a warning: options built by project helpers and the caller, none of which sets a timeout",
            connect_args="def base_connect_args():\n    return {'keepalives': 1, 'keepalives_idle': 30}\n"),
        example("""
from sqlalchemy.ext.asyncio import create_async_engine

def build_engine(url: str):
    connect_args = {"prepare_threshold": None} if url.startswith("postgresql+psycopg://") else {}
    return create_async_engine(url, connect_args=connect_args, pool_size=5, max_overflow=0, pool_timeout=5)  # error
""", note="a warning: an async engine in a module that expects psycopg's async driver"),
        example("""
from sqlalchemy import create_engine

def _require_ssl(args, key):
    args[key] = "require"

def _engine_config(url):
    args = {"application_name": "api"}
    _require_ssl(args, "sslmode")
    return url, args

def ssh_options(host):
    return {"host": host, "connect_timeout": 10}

def build_engine(database_url):
    url, connect_args = _engine_config(database_url)
    return create_engine(url, connect_args=connect_args, pool_size=5, max_overflow=0, pool_timeout=5)  # error
""", note="a warning: the module's own helpers build the options and none sets the timeout (the SSH "
            "connect_timeout does not reach them)"),
        example("""
import psycopg2

def connect(settings):
    return psycopg2.connect(host=settings["host"], async_=True, connect_timeout=10, **settings["extra"])  # error
""", note="psycopg2's asynchronous connect polls libpq, which ignores connect_timeout"),
        example("""
from .models import db

def configure_db(app, config):
    app.config["SQLALCHEMY_DATABASE_URI"] = config.DATABASE_URI
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {  # error
        "pool_size": config.POOL_SIZE,
        "max_overflow": 0,
    }
    db.init_app(app)
""", note="a warning: Flask-SQLAlchemy's engine options in the app config set no connect_args timeout",
            models="from flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n"),
        example("""
import psycopg
from .servers import ServerManager

class Connection:
    def __init__(self, manager: ServerManager):
        self.manager = manager

    def connect(self, database):
        dsn = self.manager.connection_string(database)
        return psycopg.connect(dsn)  # error
""", note="the DSN is built by project code, and no code of the project sets `connect_timeout`: a warning",
            servers="class ServerManager:\n    def __init__(self, host):\n        self.params = {'host': host}\n\n"
                    "    def connection_string(self, database):\n"
                    "        return ' '.join(f'{k}={v}' for k, v in dict(self.params, dbname=database).items())\n"),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.contrib.gis.db.backends.postgis",  # error
        "NAME": "maps",
        "OPTIONS": {"sslmode": "require"},
    }
}
""", note="PostGIS runs on the PostgreSQL backend"),
        example("""
import environ

env = environ.Env()
DATABASES = {"default": env.db("DATABASE_URL")}  # error
""", note="a warning: django-environ's entry, whose URL query may carry connect_timeout"),
        example("""
import dj_database_url

DEFAULT_DB = "default"
DATABASES = {
    DEFAULT_DB: dj_database_url.config(default="postgres://app@localhost/app"),  # error
}
""", note="a warning: the alias is a module-level name"),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        if ctx.is_test:
            return  # test code runs against a database the test set up, in front of someone
        if type(node) is ast.Assign:
            if len(node.targets) == 1 and _config_key(node.targets[0]) == K.FLASK_ENGINE_OPTIONS:
                self._flask_config(node.value, ctx)
            return
        if isinstance(node, ast.Module):
            self._module = node
            _django_settings(node, ctx)
            return
        assert isinstance(node, ast.Call)
        target = ctx.call(node).target
        if _flask_sqlalchemy(target, ctx):
            self._flask(node, ctx)
            return
        if target not in _TARGETS:
            return
        where = ctx.function.node or self._module
        if target in K.LIBPQ_CONNECTS or target in K.LIBPQ_POOLS:
            self._connect(node, ctx, where)
        elif target in K.SQLALCHEMY_ENGINES:
            self._engine(node, target, ctx, where)

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        """A connect whose options come from project code: reported when no code of the project sets one."""
        assert isinstance(pending.data, HiddenOptions)
        if pending.data.settings:
            return None if index.settings_timeout(pending.data.root) else pending.data.message
        return None if index.sets_connect_timeout else pending.data.message

    def _connect(self, node: ast.Call, ctx: FileContext, where: ast.AST | None) -> None:
        """psycopg / psycopg2 connects and pools: a keyword, ``**options``, ``kwargs=`` or the DSN."""
        if any(_truthy(keyword(node, flag)) for flag in K.LIBPQ_ASYNC_CONNECT_FLAGS):
            ctx.report(node, f"`{dotted_text(node.func)}(async_=True)` connects through libpq's non-blocking "
                       f"connect, which ignores `connect_timeout`: bound the connect with a total deadline in the "
                       f"poll loop (each `select()` timeout alone restarts the wait)")
            return
        if keyword(node, _WORD) is not None:
            return
        found = Lookup()
        for kw in node.keywords:
            if kw.arg is None or kw.arg == "kwargs":
                found.add(lookup(kw.value, _WORD, ctx, where, self._helpers()))
        if found.values:
            return
        unseen = False  # a DSN the code does not spell out (settings, env, a helper's result)
        built_by: str | None = None  # ... built by this project function: it decides, with the index
        for arg in (*node.args, keyword(node, "dsn"), keyword(node, "conninfo")):
            if arg is None or (isinstance(arg, ast.Constant) and not isinstance(arg.value, str)):
                continue  # absent, or a pool's minconn / maxconn
            if isinstance(arg, ast.Starred):  # *args: positional DSN from elsewhere
                found.add(lookup(arg.value, _WORD, ctx, where, self._helpers()))
                unseen = True
                continue
            text = string_value(arg, ctx)
            if text is not None and _WORD in text:
                return
            unseen = unseen or text is None
            built_by = built_by or _project_builder(arg, ctx)
        callee = dotted_text(node.func)
        if built_by is not None:
            ctx.defer(node, HiddenOptions(
                f"`{callee}()` sets no connect timeout that the code shows: its DSN is built by project code "
                f"(`{built_by.rpartition('.')[2]}()`), and no code of the project sets `connect_timeout`: "
                f"{_ADVICE}"), severity="warning")
            return
        if unseen:
            message = (f"`{callee}()` sets no connect timeout, unless the DSN it is given carries "
                       f"`connect_timeout`: {_ADVICE}")
        else:
            message = f"`{callee}()` sets no connect timeout: {_ADVICE}"
        self._decide(node, ctx, found.opaque, message, "warning" if unseen else None, callee)

    def _engine(self, node: ast.Call, target: str, ctx: FileContext, where: ast.AST | None) -> None:
        """SQLAlchemy engines: the URL, then ``connect_args`` (as a keyword or in a ``**`` splat)."""
        url_arg = node.args[0] if node.args else keyword(node, "url")
        url = string_value(url_arg, ctx)
        if url is not None and (not _libpq_url(url) or _WORD in url):
            return
        if url is None and _other_database_branch(node, where):
            return
        found = Lookup()
        args = keyword(node, "connect_args")
        if args is not None:
            found.values.append(Value(args, where))
        for kw in node.keywords:
            if kw.arg is None:
                found.add(lookup(kw.value, "connect_args", ctx, where, self._helpers()))
        timeouts = Lookup(opaque=found.opaque)
        for value in found.values:
            for key in (_WORD, "timeout"):
                timeouts.add(lookup(value.expr, key, ctx, value.where, self._helpers(), value.bound))
        if timeouts.values:
            return
        callee = dotted_text(node.func)
        if url is not None:
            self._decide(node, ctx, timeouts.opaque, f"`{callee}()` on a libpq driver sets no connect timeout "
                         f"(add `connect_args={{\"connect_timeout\": 5}}`): {_ADVICE}", None, callee)
        elif url_arg is not None and (target in K.SYNC_ENGINES or self._names_libpq_async()):
            # async: most likely asyncpg (60 s default), unless the module names an async libpq driver
            driver = "" if target in K.SYNC_ENGINES else "; this module names psycopg's async driver"
            self._decide(node, ctx, timeouts.opaque,
                         f"`{callee}()` sets no connect timeout, unless its URL (not spelled out here{driver}) "
                         f"carries `connect_timeout` or names a driver other than libpq's (add "
                         f"`connect_args={{\"connect_timeout\": 5}}`): {_ADVICE}", "warning", callee)

    def _decide(self, node: ast.Call, ctx: FileContext, opaque: Opaque, message: str,
                severity: Severity | None, callee: str) -> None:
        """Report now when every option is visible; leave it to the project index when project code
        builds some of them; stay quiet when they come from outside the code."""
        if opaque is Opaque.NONE:
            ctx.report(node, message, severity=severity)
        elif opaque is Opaque.PROJECT:
            ctx.defer(node, HiddenOptions(
                f"`{callee}()` sets no connect timeout that the code shows: its options are built from "
                f"project data this call does not see, and no code of the project sets `connect_timeout` "
                f"(unless its URL or DSN carries it): {_ADVICE}"), severity="warning")

    def _helpers(self) -> Helpers:
        """The module's own functions, by name: options built by one of them are read there."""
        if self._functions is None:
            body = self._module.body if self._module is not None else []
            self._functions = {f.name: f for f in body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
        return self._functions

    def _names_libpq_async(self) -> bool:
        """Whether this module spells a URL scheme of psycopg's async driver (``postgresql+psycopg``)."""
        if self._libpq_async is None:
            self._libpq_async = self._module is not None and any(
                isinstance(n, ast.Constant) and isinstance(n.value, str)
                and n.value.partition("://")[0].lower() in K.LIBPQ_ASYNC_SCHEMES
                for n in ast.walk(self._module))
        return self._libpq_async

    def _flask_config(self, options: ast.expr, ctx: FileContext) -> None:
        """``app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {...}``: Flask-SQLAlchemy's engine options, whole."""
        keys = dict_keys(options)
        if keys is None or not ctx.db_aware:
            return  # not literal, or a module with no database code around it
        if "connect_args" in keys:
            assert isinstance(options, (ast.Dict, ast.Call))
            inner = dict_keys(_dict_value(options, "connect_args"))
            if inner is None or _WORD in inner:
                return
        ctx.report(options, f"Flask-SQLAlchemy's `{K.FLASK_ENGINE_OPTIONS}` set no connect timeout, unless the "
                   f"database URI carries `connect_timeout` (add `\"connect_args\": {{\"connect_timeout\": 5}}`): "
                   f"{_ADVICE}", severity="warning")

    def _flask(self, node: ast.Call, ctx: FileContext) -> None:
        """``SQLAlchemy(engine_options={...})``: the engine's options are spelled out, the URL is not."""
        options = keyword(node, "engine_options")
        keys = dict_keys(options)
        if keys is None:
            return  # no options here (they live in the app config) or not literal: nothing to say
        if "connect_args" in keys:
            assert isinstance(options, (ast.Dict, ast.Call))
            args = _dict_value(options, "connect_args")
            inner = dict_keys(args)
            if inner is None or "connect_timeout" in inner:
                return
        ctx.report(node, f"`{dotted_text(node.func)}()` builds its engine with `engine_options` that set no "
                   f"connect timeout, unless the database URI or the app's SQLALCHEMY_ENGINE_OPTIONS carries "
                   f"`connect_timeout` (add `\"connect_args\": {{\"connect_timeout\": 5}}`): {_ADVICE}",
                   severity="warning")


def _config_key(target: ast.expr) -> str | None:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for ``app.config["SQLALCHEMY_ENGINE_OPTIONS"]`` or a config class's
    ``SQLALCHEMY_ENGINE_OPTIONS``; None for any other target."""
    if type(target) is ast.Name:
        return target.id
    if type(target) is ast.Subscript and isinstance(target.slice, ast.Constant) \
            and isinstance(target.value, ast.Attribute) and target.value.attr == "config":
        key = target.slice.value
        return key if isinstance(key, str) else None
    return None


def _flask_sqlalchemy(target: str | None, ctx: FileContext) -> bool:
    """Flask-SQLAlchemy's extension, or a class of this module derived from it."""
    if target is None:
        return False
    if target in K.FLASK_SQLALCHEMY:
        return True
    module, _, name = target.rpartition(".")
    bases = ctx.summary.classes.get(name, ()) if module == ctx.module else ()
    return any(base in K.FLASK_SQLALCHEMY for base in bases)


def _truthy(expr: ast.expr | None) -> bool:
    return isinstance(expr, ast.Constant) and bool(expr.value)


def _other_database_branch(node: ast.Call, where: ast.AST | None) -> bool:
    """Whether ``node`` runs only in the branch of an ``if`` that tests for another database's URL
    (``if url.startswith("sqlite")``, ``if "mysql" in url``)."""
    if not isinstance(where, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    line = node.lineno
    for branch in ast.walk(where):
        if isinstance(branch, ast.If) and branch.body and branch.body[0].lineno <= line <= (
                branch.body[-1].end_lineno or branch.body[-1].lineno) and any(
                isinstance(c, ast.Constant) and isinstance(c.value, str)
                and c.value.lower().startswith(K.NON_LIBPQ_URL_PREFIXES) for c in ast.walk(branch.test)):
            return True
    return False


def _dict_value(expr: ast.Dict | ast.Call, key: str) -> ast.expr | None:
    if isinstance(expr, ast.Dict):
        return next((v for k, v in zip(expr.keys, expr.values, strict=True)
                     if isinstance(k, ast.Constant) and k.value == key), None)
    return keyword(expr, key)


def _libpq_url(url: str) -> bool:
    scheme = url.partition("://")[0].lower()
    return scheme in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg",
                      "postgresql+psycopg2cffi", "postgresql+psycopg_async")


# -- Django settings: DATABASES ------------------------------------------------------------------------
def _django_settings(tree: ast.Module, ctx: FileContext) -> None:
    """Django's ``DATABASES`` written at module level (read by :mod:`check.django_settings`, judged by
    :func:`check.django_verdicts.judge`): a PostgreSQL entry whose OPTIONS set no connect_timeout, on its
    ``ENGINE`` key (on the ``OPTIONS`` write that replaced its options). A module that names
    connect_timeout anywhere is trusted; the finding stands when no module of the project gives Django's
    connections a timeout otherwise (``PGCONNECT_TIMEOUT``, a split settings module's write)."""
    verdicts = judge_module(tree, ctx, ConnectWithoutTimeout.CODE)
    if not verdicts or _names_timeout(tree):
        return
    for entry, problem, _ in verdicts:
        anchor = entry.anchor((K.DJANGO_OPTIONS,)) if (K.DJANGO_OPTIONS,) in entry.written \
            else entry.anchor(problem.key, (K.DJANGO_OPTIONS,))
        ctx.defer(anchor, HiddenOptions(problem.message, settings=True, root=ctx.root), severity=problem.severity)


def _names_timeout(tree: ast.Module) -> bool:
    """Whether the settings module names connect_timeout anywhere (set in a loop, a helper...)."""
    return any((isinstance(n, ast.Constant) and isinstance(n.value, str) and _WORD in n.value)
               or (isinstance(n, ast.keyword) and n.arg == _WORD) for n in ast.walk(tree))


def _project_builder(arg: ast.expr, ctx: FileContext) -> str | None:
    """The project function whose result the DSN argument is (``dsn = self.manager.build_dsn(...)``,
    then ``connect(dsn)``; or the call itself), or None."""
    if isinstance(arg, ast.Name):
        for scope in reversed(ctx.scopes):  # a nested function's DSN may be its outer function's local
            if scope.node is None:
                break
            if arg.id in scope.made_by:
                return scope.made_by[arg.id]
    if isinstance(arg, ast.Call):
        return ctx.call(arg).ref
    return None
