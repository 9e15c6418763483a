"""What poolwarden knows about database drivers, pools and external I/O APIs.

Everything the rules recognise is declared here as data, keyed by fully qualified names
(``sqlalchemy.ext.asyncio.create_async_engine``) or by the *kind* of a value and a method
name (``(POOL, "acquire")``). Rules never match on spelling; they ask the file context,
which resolves names through imports and assignments and then consults these tables.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final


# -- kinds of values --------------------------------------------------------------------------
class Kind(enum.Enum):
    """What a value is, as far as the analysis can tell."""

    ENGINE = "engine"  # SQLAlchemy Engine / AsyncEngine
    SESSIONMAKER = "sessionmaker"  # sessionmaker / async_sessionmaker / scoped_session
    SESSION = "session"  # ORM Session / AsyncSession (holds a connection once used)
    CONNECTION = "connection"  # a DB connection of any driver (or SQLAlchemy Connection)
    POOL = "pool"  # asyncpg / psycopg_pool / psycopg2 pools
    CURSOR = "cursor"
    DBANY = "db"  # a name that looks like a DB handle but whose exact kind is unknown
    HTTP = "http"  # httpx / requests / aiohttp clients
    BOTO = "boto"  # boto3 clients and resources
    SMTP = "smtp"
    LLM = "llm"  # OpenAI-style SDK clients
    API = "api"  # SDK clients whose methods are network calls (Slack, Twilio)


ENGINE: Final = Kind.ENGINE
SESSIONMAKER: Final = Kind.SESSIONMAKER
SESSION: Final = Kind.SESSION
CONNECTION: Final = Kind.CONNECTION
POOL: Final = Kind.POOL
CURSOR: Final = Kind.CURSOR
DBANY: Final = Kind.DBANY
HTTP: Final = Kind.HTTP
BOTO: Final = Kind.BOTO
SMTP: Final = Kind.SMTP
LLM: Final = Kind.LLM
API: Final = Kind.API

DB_KINDS: Final = frozenset({ENGINE, SESSIONMAKER, SESSION, CONNECTION, POOL, CURSOR, DBANY})
IO_KINDS: Final = frozenset({HTTP, BOTO, SMTP, LLM, API})


class Effect(enum.Enum):
    """What a call does to the connection or transaction it touches."""

    TX = "tx"  # a context that holds a transaction (``engine.begin()``, ``transaction.atomic()``)
    HOLD = "hold"  # a context that holds a checked-out connection (``engine.connect()``)
    ACQUIRE = "acquire"  # returns a checked-out connection the caller must release
    LAZY = "lazy"  # a session: holds a connection once it has run a statement
    RELEASE = "release"  # gives a connection back (``close()``, ``putconn(conn)``)
    END = "end"  # ends the transaction, keeps the connection (``commit()``, ``rollback()``)


class Io(enum.Enum):
    """Kinds of external I/O; the value is how a message names it."""

    HTTP = "HTTP"
    SLEEP = "a sleep"
    SUBPROCESS = "a subprocess"
    SOCKET = "a socket connect"
    SMTP = "SMTP"
    AWS = "an AWS call"
    LLM = "an LLM API call"
    QUEUE = "a task enqueue"
    API = "an API call"


# Modules whose import makes a file "database-aware" (name heuristics apply there).
DB_MODULES: Final = frozenset(
    {
        "sqlalchemy", "sqlmodel", "asyncpg", "psycopg", "psycopg2", "psycopg_pool", "django",
        "flask_sqlalchemy", "databases", "tortoise", "gino", "ormar", "piccolo", "peewee",
        "aiopg", "psycopg2cffi", "pg8000",
    }
)
# Project modules whose names say they hold database code.
DB_MODULE_HINT: Final = re.compile(
    r"(^|\.)(db|database|databases|models?|repos?|repositor\w*|session|sessions|dao|orm|crud|store|storage"
    r"|persistence|queries|sql)($|\.)"
)

# Raw-text pre-scan: a file that imports none of these can hold no DB code of its own (its
# DB handles come from modules that do, which the import closure in engine.py follows).
_DB_IMPORTS: Final = (b"sqlalchemy", b"sqlmodel", b"asyncpg", b"psycopg", b"psycopg2", b"psycopg_pool", b"django",
                      b"flask_sqlalchemy", b"databases", b"tortoise", b"gino", b"ormar", b"piccolo", b"peewee",
                      b"aiopg", b"pg8000", b"psycopg2cffi")
DB_TOKENS: Final = re.compile(
    rb"^[ \t]*(?:from|import)[ \t]+(?:" + b"|".join(_DB_IMPORTS) + rb")\b",
    re.M,
)
# ... and one that matches none of these creates no event loop (PW102's constructs).
LOOP_TOKENS: Final = re.compile(
    rb"new_event_loop|run_until_complete|asyncio\.run\(|anyio\.run\(|async_to_sync|"
    rb"from[ \t]+(?:asyncio|anyio)[ \t]+import[^\n]*\brun\b"
)
# Words one of which a text must hold for each pattern to match: a plain substring test (fast) first.
DB_TOKEN_WORDS: Final = tuple(w for w in _DB_IMPORTS if not any(o != w and o in w for o in _DB_IMPORTS))
LOOP_TOKEN_WORDS: Final = (b"new_event_loop", b"run_until_complete", b"async_to_sync", b"asyncio", b"anyio")
SETTINGS_TOKEN_WORDS: Final = (b"DATABASES",)

# -- constructors and factories: qualified name -> kind of the value they return -----------------
FACTORIES: Final[dict[str, Kind]] = {
    "sqlalchemy.create_engine": ENGINE,
    "sqlalchemy.engine.create_engine": ENGINE,
    "sqlalchemy.engine_from_config": ENGINE,
    "sqlalchemy.engine.engine_from_config": ENGINE,
    "sqlalchemy.ext.asyncio.create_async_engine": ENGINE,
    "sqlalchemy.ext.asyncio.async_engine_from_config": ENGINE,
    "sqlmodel.create_engine": ENGINE,
    "sqlalchemy.orm.sessionmaker": SESSIONMAKER,
    "sqlalchemy.orm.scoped_session": SESSIONMAKER,
    "sqlalchemy.ext.asyncio.async_sessionmaker": SESSIONMAKER,
    "sqlalchemy.ext.asyncio.async_scoped_session": SESSIONMAKER,
    "sqlalchemy.orm.Session": SESSION,
    "sqlalchemy.ext.asyncio.AsyncSession": SESSION,
    "sqlmodel.Session": SESSION,
    "sqlmodel.ext.asyncio.session.AsyncSession": SESSION,
    "asyncpg.connect": CONNECTION,
    "asyncpg.create_pool": POOL,
    "asyncpg.pool.create_pool": POOL,
    "psycopg.connect": CONNECTION,
    "psycopg.Connection.connect": CONNECTION,
    "psycopg.AsyncConnection.connect": CONNECTION,
    "psycopg2.connect": CONNECTION,
    "psycopg_pool.ConnectionPool": POOL,
    "psycopg_pool.AsyncConnectionPool": POOL,
    "psycopg_pool.NullConnectionPool": POOL,
    "psycopg_pool.AsyncNullConnectionPool": POOL,
    "psycopg2.pool.SimpleConnectionPool": POOL,
    "psycopg2.pool.ThreadedConnectionPool": POOL,
    "psycopg2.pool.PersistentConnectionPool": POOL,
    "httpx.Client": HTTP,
    "httpx.AsyncClient": HTTP,
    "requests.Session": HTTP,
    "requests.session": HTTP,
    "aiohttp.ClientSession": HTTP,
    "boto3.client": BOTO,
    "boto3.resource": BOTO,
    "boto3.session.Session": BOTO,
    "boto3.Session": BOTO,
    "aioboto3.Session": BOTO,
    "smtplib.SMTP": SMTP,
    "smtplib.SMTP_SSL": SMTP,
    "aiosmtplib.SMTP": SMTP,
    "openai.OpenAI": LLM,
    "openai.AsyncOpenAI": LLM,
    "openai.AzureOpenAI": LLM,
    "openai.AsyncAzureOpenAI": LLM,
    "anthropic.Anthropic": LLM,
    "anthropic.AsyncAnthropic": LLM,
    "slack_sdk.WebClient": API,
    "slack_sdk.web.WebClient": API,
    "slack_sdk.web.client.WebClient": API,
    "slack_sdk.web.async_client.AsyncWebClient": API,
    "slack_sdk.webhook.WebhookClient": API,
    "slack_sdk.webhook.async_client.AsyncWebhookClient": API,
    "slack.WebClient": API,
    "twilio.rest.Client": API,
}

# Annotations: the last component of a type name -> kind (only when imported from a DB module).
ANNOTATIONS: Final[dict[str, Kind]] = {
    "Session": SESSION,
    "AsyncSession": SESSION,
    "scoped_session": SESSION,
    "Engine": ENGINE,
    "AsyncEngine": ENGINE,
    "Connection": CONNECTION,
    "AsyncConnection": CONNECTION,
    "connection": CONNECTION,
    "Pool": POOL,
    "ConnectionPool": POOL,
    "AsyncConnectionPool": POOL,
    "Cursor": CURSOR,
    "AsyncCursor": CURSOR,
    "cursor": CURSOR,
    "sessionmaker": SESSIONMAKER,
    "async_sessionmaker": SESSIONMAKER,
}
IO_ANNOTATIONS: Final[dict[str, Kind]] = {
    "httpx.AsyncClient": HTTP,
    "httpx.Client": HTTP,
    "requests.Session": HTTP,
    "aiohttp.ClientSession": HTTP,
    "openai.OpenAI": LLM,
    "openai.AsyncOpenAI": LLM,
    "slack_sdk.WebClient": API,
    "slack_sdk.web.async_client.AsyncWebClient": API,
}

# Names that, in a database-aware module, are taken to be DB handles.
NAME_HINTS: Final[dict[str, Kind]] = {
    "session": SESSION, "db_session": SESSION, "dbsession": SESSION, "async_session": SESSIONMAKER,
    "sessionlocal": SESSIONMAKER, "asyncsessionlocal": SESSIONMAKER,
    "session_factory": SESSIONMAKER, "session_maker": SESSIONMAKER,
    "async_session_maker": SESSIONMAKER, "async_session_factory": SESSIONMAKER,
    "db": DBANY, "database": DBANY,
    "conn": CONNECTION, "connection": CONNECTION, "con": CONNECTION, "db_conn": CONNECTION,
    "dbconn": CONNECTION, "pg_conn": CONNECTION, "pgconn": CONNECTION, "cnx": CONNECTION,
    "tx": CONNECTION, "txn": CONNECTION, "bind": CONNECTION,
    "cur": CURSOR, "cursor": CURSOR,
    "pool": POOL, "db_pool": POOL, "pg_pool": POOL, "pgpool": POOL, "conn_pool": POOL,
    "connection_pool": POOL,
    "engine": ENGINE, "db_engine": ENGINE, "async_engine": ENGINE,
}

# -- methods: (kind, method) -> effect (see :class:`Effect`) ---------------------------------------
# DB_METHODS run SQL or talk to the server; CLEANUP_METHODS give a connection back or end its use.
DB_METHODS: Final = frozenset(
    {
        "execute", "executemany", "exec_driver_sql", "scalar", "scalars", "scalar_one",
        "fetch", "fetchrow", "fetchval", "fetchone", "fetchall", "fetchmany", "copy_from_query",
        "copy_records_to_table", "copy_to_table", "copy_from_table", "copy_expert", "copy",
        "stream", "stream_scalars", "query", "flush", "refresh", "merge", "get_one",
        "callproc", "prepare", "commit", "run_sync", "execute_values", "execute_batch",
    }
)
CLEANUP_METHODS: Final = frozenset(
    {"close", "dispose", "rollback", "release", "putconn", "terminate", "invalidate", "expunge_all", "aclose"}
)

COMMIT_METHODS: Final = frozenset({"commit"})  # ends the transaction after running it (a DB call)
END_METHODS: Final = frozenset({"rollback"})  # cleanup that ends the transaction, keeps the connection
RELEASE_ARGUMENT_METHODS: Final = frozenset({"putconn", "release"})  # pool.putconn(conn): the argument goes back
SESSION_QUERY_METHODS: Final = frozenset({"get", "get_one"})  # Session.get runs a SELECT
SESSIONMAKER_METHODS: Final = frozenset({"begin", "configure", "kw"})  # the rest of a factory makes no session
POOLED_KINDS: Final = frozenset({POOL, ENGINE, DBANY})  # what a checkout comes from: a pool slot
# Any receiver, in a database-aware module: psycopg2 pools' checkout and return.
POOL_CHECKOUT_METHODS: Final = frozenset({"getconn"})
POOL_RETURN_METHODS: Final = frozenset({"putconn"})
# Context-manager methods whose result, when assigned instead (``conn = engine.connect()``), is a
# checkout the function must close itself ("<kind>.<method>", as CallInfo.target spells it).
ASSIGNED_CHECKOUTS: Final = frozenset({"engine.connect"})

# What a `with helper() as <name>:` target named like these holds, when the helper is project code.
HELD_HINTS: Final = frozenset({SESSION, CONNECTION})
# Methods that open a handle on a DB value (the receiver is then a DB handle of the function).
HANDLE_METHODS: Final = frozenset({"cursor", "transaction", "begin"})
# Decorators that make a method an attribute (its return annotation is the attribute's type).
PROPERTY_DECORATORS: Final = frozenset({"property", "cached_property"})
# Django: the manager attribute through which model queries run (``User.objects.get``).
ORM_MANAGER_ATTRS: Final = frozenset({"objects"})
# Django QuerySet methods that build a query and run nothing until it is evaluated.
QUERYSET_LAZY_METHODS: Final = frozenset(
    {"filter", "exclude", "order_by", "select_related", "prefetch_related", "annotate", "alias", "values",
     "values_list", "only", "defer", "all", "distinct", "using", "select_for_update", "extra", "none",
     "reverse", "union", "intersection", "difference"}
)
# `with <kind>.<method>():` blocks whose exit ends the receiver's transaction (commit, or rollback on
# error); a savepoint (`begin_nested()`) ends only itself.
ENDS_AT_EXIT: Final[frozenset[tuple[Kind, str]]] = frozenset({(SESSION, "begin")})
# `with closing(x):` closes its argument when the block is left.
CLOSING_CONTEXTS: Final = frozenset({"contextlib.closing", "contextlib.aclosing"})
# Functions whose call is a context with a known effect.
FUNCTION_EFFECTS: Final[dict[str, Effect]] = {"django.db.transaction.atomic": Effect.TX}

METHOD_EFFECTS: Final[dict[tuple[Kind, str], Effect]] = {
    (ENGINE, "connect"): Effect.HOLD,
    (ENGINE, "begin"): Effect.TX,
    (ENGINE, "raw_connection"): Effect.ACQUIRE,
    (SESSIONMAKER, "begin"): Effect.TX,
    (SESSION, "begin"): Effect.TX,
    (SESSION, "begin_nested"): Effect.TX,
    (SESSION, "connection"): Effect.HOLD,
    (CONNECTION, "begin"): Effect.TX,
    (CONNECTION, "transaction"): Effect.TX,
    (CONNECTION, "begin_nested"): Effect.TX,
    (POOL, "acquire"): Effect.ACQUIRE,
    (POOL, "getconn"): Effect.ACQUIRE,
    (POOL, "connection"): Effect.HOLD,
    (DBANY, "begin"): Effect.TX,
    (DBANY, "connect"): Effect.HOLD,
    (DBANY, "acquire"): Effect.ACQUIRE,
    (DBANY, "transaction"): Effect.TX,
}
# Methods that check out a connection from some kind of handle: on a value a project helper returned
# (``engine = get_engine(); conn = engine.connect()``), decided once the index knows the helper's kind.
CHECKOUT_METHODS: Final = frozenset(m for (_k, m), e in METHOD_EFFECTS.items() if e in (Effect.ACQUIRE, Effect.HOLD))


def checks_out(kind: Kind, method: str) -> bool:
    """Whether ``<kind>.<method>()``, assigned to a name, is a checkout the function must release."""
    effect = METHOD_EFFECTS.get((kind, method))
    return effect is Effect.ACQUIRE or (effect is Effect.HOLD and f"{kind.value}.{method}" in ASSIGNED_CHECKOUTS)


# Method calls whose result kind is known.
METHOD_RESULTS: Final[dict[tuple[Kind, str], Kind]] = {
    (ENGINE, "connect"): CONNECTION,
    (ENGINE, "begin"): CONNECTION,
    (ENGINE, "raw_connection"): CONNECTION,
    (SESSION, "connection"): CONNECTION,
    (SESSION, "begin"): SESSION,
    (SESSIONMAKER, "begin"): SESSION,
    (POOL, "acquire"): CONNECTION,
    (POOL, "getconn"): CONNECTION,
    (POOL, "connection"): CONNECTION,
    (CONNECTION, "cursor"): CURSOR,
    (DBANY, "begin"): CONNECTION,
    (DBANY, "connect"): CONNECTION,
    (DBANY, "acquire"): CONNECTION,
    (DBANY, "session"): SESSION,
    (DBANY, "cursor"): CURSOR,
    (BOTO, "client"): BOTO,  # boto3.Session().client("s3"): a client whose calls are AWS calls
    (BOTO, "resource"): BOTO,
}

# -- external I/O -------------------------------------------------------------------------------
HTTP_METHODS: Final = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream", "ws_connect"}
)
SMTP_METHODS: Final = frozenset({"sendmail", "send_message", "login", "starttls", "connect", "ehlo"})


@dataclass(frozen=True)
class ClientIo:
    """The methods of an I/O client kind that do I/O: ``methods`` (None: every method but ``except_``)."""

    io: Io
    methods: frozenset[str] | None = None
    except_: frozenset[str] = frozenset()

    def applies(self, method: str) -> bool:
        return method not in self.except_ if self.methods is None else method in self.methods


CLIENT_IO: Final[dict[Kind, ClientIo]] = {
    HTTP: ClientIo(Io.HTTP, HTTP_METHODS),
    SMTP: ClientIo(Io.SMTP, SMTP_METHODS),
    # boto3 sessions build clients in-process (`session.client("s3")`); the client's calls go out
    BOTO: ClientIo(Io.AWS, except_=frozenset({"get_paginator", "get_waiter", "meta", "exceptions", "client",
                                              "resource"})),
    LLM: ClientIo(Io.LLM, frozenset({"create", "parse", "stream", "generate"})),
    API: ClientIo(Io.API, except_=frozenset({"close", "aclose", "token", "base_url", "headers", "logger"})),
}
# Libraries whose module-level resource classes call the network: `stripe.Customer.create(...)`.
IO_MODULE_METHODS: Final[dict[str, frozenset[str]]] = {
    "stripe": frozenset({"create", "retrieve", "modify", "list", "delete", "cancel", "capture", "confirm",
                         "search", "pay", "void_invoice", "finalize_invoice", "create_usage_record"}),
}
# An HTTP client built on one of these transports talks to an app in-process (tests), not the network.
IN_PROCESS_TRANSPORTS: Final = ("ASGITransport", "WSGITransport")

IO_FUNCTIONS: Final[dict[str, Io]] = {
    **{f"requests.{m}": Io.HTTP for m in ("get", "post", "put", "patch", "delete", "head", "options", "request")},
    **{f"httpx.{m}": Io.HTTP
       for m in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")},
    "aiohttp.request": Io.HTTP,
    "urllib.request.urlopen": Io.HTTP,
    "urllib.request.urlretrieve": Io.HTTP,
    "urllib3.request": Io.HTTP,
    "time.sleep": Io.SLEEP,
    "asyncio.sleep": Io.SLEEP,
    "gevent.sleep": Io.SLEEP,
    "subprocess.run": Io.SUBPROCESS,
    "subprocess.call": Io.SUBPROCESS,
    "subprocess.check_call": Io.SUBPROCESS,
    "subprocess.check_output": Io.SUBPROCESS,
    "subprocess.Popen": Io.SUBPROCESS,
    "asyncio.create_subprocess_exec": Io.SUBPROCESS,
    "asyncio.create_subprocess_shell": Io.SUBPROCESS,
    "os.system": Io.SUBPROCESS,
    "socket.create_connection": Io.SOCKET,
    "smtplib.SMTP": Io.SMTP,
    "smtplib.SMTP_SSL": Io.SMTP,
    "aiosmtplib.send": Io.SMTP,
}
QUEUE_METHODS: Final = frozenset({"delay", "apply_async", "send_task"})

# -- connect timeouts (PW106) ---------------------------------------------------------------------
LIBPQ_CONNECTS: Final = frozenset(
    {
        "psycopg.connect", "psycopg.Connection.connect", "psycopg.AsyncConnection.connect",
        "psycopg2.connect", "psycopg2cffi.connect", "aiopg.connect", "aiopg.create_pool",
    }
)
LIBPQ_POOLS: Final = frozenset(
    {
        "psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool",
        "psycopg_pool.NullConnectionPool", "psycopg_pool.AsyncNullConnectionPool",
        "psycopg2.pool.SimpleConnectionPool", "psycopg2.pool.ThreadedConnectionPool",
        "psycopg2.pool.PersistentConnectionPool",
    }
)
SQLALCHEMY_ENGINES: Final = frozenset(
    {
        "sqlalchemy.create_engine", "sqlalchemy.engine.create_engine",
        "sqlalchemy.ext.asyncio.create_async_engine", "sqlmodel.create_engine",
    }
)
# Flask-SQLAlchemy's extension: it makes the engine from the app config and its ``engine_options``.
FLASK_SQLALCHEMY: Final = frozenset({"flask_sqlalchemy.SQLAlchemy"})
FLASK_ENGINE_OPTIONS: Final = "SQLALCHEMY_ENGINE_OPTIONS"  # the app-config key of its engine options
SYNC_ENGINES: Final = frozenset(
    {"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlmodel.create_engine"}
)
# The connect option PW106 looks for (in keywords, dict keys, DSNs and URL queries).
CONNECT_TIMEOUT_WORD: Final = "connect_timeout"
# SQLAlchemy URL schemes of an asynchronous libpq driver: an async engine is not always asyncpg.
LIBPQ_ASYNC_SCHEMES: Final = frozenset({"postgresql+psycopg", "postgresql+psycopg_async"})
# psycopg2's asynchronous-connection flags: libpq's non-blocking connect (PQconnectPoll) ignores connect_timeout.
LIBPQ_ASYNC_CONNECT_FLAGS: Final = ("async_",)
# URL prefixes of databases libpq never connects to: a connect in `if url.startswith("sqlite")` is not libpq's.
NON_LIBPQ_URL_PREFIXES: Final = ("sqlite", "mysql", "mariadb", "mssql", "oracle", "postgresql+asyncpg", "cockroachdb")
# Django: the DATABASES setting, its PostgreSQL engines, and the dj-database-url helpers that build an
# entry from a URL (whose query string becomes the entry's OPTIONS).
DJANGO_DATABASES: Final = "DATABASES"
DJANGO_POSTGRES_ENGINE: Final = "django.db.backends.postgresql"  # also .postgresql_psycopg2
DJANGO_URL_PARSERS: Final = frozenset({"dj_database_url.config", "dj_database_url.parse"})
# OPTIONS keys only a PostgreSQL (libpq / psycopg) entry takes: they tell its engine when ENGINE is built elsewhere.
LIBPQ_OPTION_KEYS: Final = frozenset(
    {"application_name", "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "target_session_attrs",
     "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "prepare_threshold",
     "server_side_binding", "passfile", "service", "assume_role", "cursor_factory"}
)
# Raw-text pre-scan: a module that sets Django's DATABASES is walked even if it imports nothing.
SETTINGS_TOKENS: Final = re.compile(rb"^DATABASES[ \t]*[=\[]", re.M)
ASYNCPG_POOLS: Final = frozenset({"asyncpg.create_pool", "asyncpg.pool.create_pool"})
SIZED_POOLS: Final = frozenset(
    {"psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool"}
)
UNPOOLED: Final = frozenset({"NullPool", "StaticPool", "AssertionPool", "SingletonThreadPool"})

# -- exceptions (PW101) ----------------------------------------------------------------------------
BROAD_EXCEPTIONS: Final = frozenset({"Exception", "BaseException"})
# Exception classes (last name component) a DB outage can raise: catching one is catching the outage.
TRANSIENT_CAPABLE: Final = frozenset(
    {
        "SQLAlchemyError", "DBAPIError", "OperationalError", "InterfaceError", "DatabaseError",
        "DisconnectionError", "TimeoutError", "PostgresError", "PostgresConnectionError",
        "ConnectionDoesNotExistError", "TooManyConnectionsError", "ConnectionFailureError",
        "CannotConnectNowError", "InterfaceWarning", "PoolTimeout", "PoolClosed", "OSError",
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "IOError",
        "InternalError", "AdminShutdown", "QueryCanceled", "QueryCanceledError",
        "ConnectionTimeout", "ConnectionException", "SerializationFailure",
        "DeadlockDetected", "TransactionRollbackError", "PendingRollbackError", "ResourceClosedError",
        "Error",
    }
)

# Calls that set the code's own deadline around what they run (``async with asyncio.timeout(30):``,
# ``await asyncio.wait_for(f(), 30)``): an ``except TimeoutError`` there catches that deadline, a time
# limit by design; the database's own errors pass it by.
DEADLINE_CALLS: Final = frozenset({"asyncio.timeout", "asyncio.timeout_at", "asyncio.wait_for", "anyio.fail_after",
                                   "anyio.move_on_after", "async_timeout.timeout", "trio.fail_after"})
TIMEOUT_ERRORS: Final = frozenset({"TimeoutError", "CancelledError", "TooSlowError"})

# Exception classes that take every outage of their driver (a later `except Exception` of the same
# `try` sees none): the base and OperationalError classes of psycopg, psycopg2 and Django.
OUTAGE_CLAUSES: Final = frozenset(
    {f"{mod}.{cls}" for mod in ("psycopg", "psycopg2", "django.db") for cls in ("Error", "OperationalError")}
    | {"psycopg2.DatabaseError", "psycopg.DatabaseError", "django.db.DatabaseError", "psycopg.errors.Error",
       "psycopg2.errors.Error", "django.db.utils.Error", "django.db.utils.DatabaseError",
       "django.db.utils.OperationalError"}
)

HEALTH_FUNCTION: Final = re.compile(r"health|ping|alive|liveness|readiness|ready|heartbeat|probe", re.I)

# Functions that run once per process: an engine or a default pool there is not multiplied.
ENTRY_POINTS: Final = frozenset(
    {"main", "cli", "run_migrations_online", "run_migrations_offline", "lifespan", "create_app", "init_db",
     "setup", "upgrade", "downgrade"}
)

# -- error handling (PW101) ------------------------------------------------------------------------
# Calls in a handler that end the request or re-raise: the failure is not swallowed.
RAISING_CALLS: Final = frozenset({"retry", "abort", "exit", "_exit", "fail", "raise_for_status"})
# Logging, error-reporting and printing calls: a handler made only of these swallows the failure.
LOG_METHODS: Final = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "capture_exception",
     "capture_message", "print", "print_exc", "add_note"}
)
HTTP_5XX_NAMES: Final = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "BAD_GATEWAY", "GATEWAY_TIMEOUT",
                                   "HTTP_500_INTERNAL_SERVER_ERROR", "HTTP_503_SERVICE_UNAVAILABLE",
                                   "HTTP_502_BAD_GATEWAY", "HTTP_504_GATEWAY_TIMEOUT"})
# An answer that says it failed is no lie: ``success=False``, ``{"ok": False}``, ``(False, msg)``, an
# ``errormsg=...`` field, or text such as "Unable to import data" / "Failed to disable".
FAILURE_FLAGS: Final = frozenset({"success", "ok", "succeeded", "status", "is_success"})
ERROR_FIELDS: Final = frozenset({"error", "errors", "errormsg", "error_message", "err", "failure", "failure_reason",
                                 "failure_note", "failures", "error_code", "detail_error"})
FAILURE_TEXT: Final = re.compile(r"fail|unable|could ?n[o']t|cannot|can't|try again|unavailable|error", re.I)
# A call whose name holds this word classifies the error (``raise_if_transient(exc)``, ``is_transient``).
TRANSIENT_WORD: Final = "transient"

# -- releasing (PW105) -----------------------------------------------------------------------------
# Methods that give a connection back, called on it or with it (``conn.close()``, ``pool.putconn(conn)``).
RELEASE_METHODS: Final = frozenset({"close", "release", "putconn", "aclose", "dispose", "terminate"})
# A project helper whose name holds one of these, called with the connection, gives it back.
RELEASE_HELPER_WORDS: Final = ("put", "release", "close", "return")
# Calls that run a coroutine to completion and return its result: ``pg_conn = asyncio.run(open_conn())``.
RUN_COROUTINE_FUNCTIONS: Final = frozenset({"asyncio.run"})
RUN_COROUTINE_METHODS: Final = frozenset({"run_until_complete"})

# -- event loops (PW102) ---------------------------------------------------------------------------
NEW_LOOP_FUNCTIONS: Final = frozenset({"asyncio.new_event_loop", "uvloop.new_event_loop"})
RUN_LOOP_FUNCTIONS: Final = frozenset({"asyncio.run", "anyio.run", "asgiref.sync.async_to_sync"})
# Installing a loop as the thread's own: it outlives the call (the persistent-loop fix, per thread).
SET_LOOP_FUNCTIONS: Final = frozenset({"asyncio.set_event_loop"})
# Calls that hand a function to another thread or process (its loop is that thread's, once).
EXECUTOR_CALLS: Final = frozenset({"submit", "run_in_executor", "Thread", "Process", "start_new_thread", "map"})

# -- pool sizing (PW103, PW107) ---------------------------------------------------------------------
SQLALCHEMY_POOL_DEFAULTS: Final = {"pool_size": "5", "max_overflow": "10", "pool_timeout": "30 s"}
# Packages whose modules are test code (a module `tests.unit.db.helpers`).
TEST_PACKAGES: Final = frozenset({"tests", "test"})
# Words in a function name that make it a cleanup path for cached engines.
CLEANUP_FUNCTION_WORDS: Final = ("dispose", "evict", "cleanup", "close_all", "shutdown")
MEMO_DECORATORS: Final = frozenset({"functools.cache", "functools.lru_cache", "cache", "lru_cache",
                                    "async_lru.alru_cache", "alru_cache"})

# -- which imports are libraries (never project code) -----------------------------------------------
THIRD_PARTY_ROOTS: Final = frozenset(
    {"slack_sdk", "slack", "twilio", "stripe", "aioboto3", "grpc",
     "httpx", "requests", "aiohttp", "boto3", "botocore", "openai", "anthropic", "celery",
     "fastapi", "starlette", "pydantic", "flask", "redis", "kombu", "urllib3", "structlog",
     "sentry_sdk", "typer", "click", "numpy", "pandas", "attr", "attrs"}
)
