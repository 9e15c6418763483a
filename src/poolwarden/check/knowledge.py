"""What poolwarden knows about database drivers, pools and external I/O APIs.

Everything the rules recognise is declared here as data, keyed by fully qualified names
(``sqlalchemy.ext.asyncio.create_async_engine``) or by the *kind* of a value and a method
name (``(POOL, "acquire")``). Rules never match on spelling; they ask the file context,
which resolves names through imports and assignments and then consults these tables.
"""

from __future__ import annotations

import re
from typing import Final

# -- kinds of values --------------------------------------------------------------------------
ENGINE: Final = "engine"  # SQLAlchemy Engine / AsyncEngine
SESSIONMAKER: Final = "sessionmaker"  # sessionmaker / async_sessionmaker / scoped_session
SESSION: Final = "session"  # ORM Session / AsyncSession (holds a connection once used)
CONNECTION: Final = "connection"  # a DB connection of any driver (or SQLAlchemy Connection)
POOL: Final = "pool"  # asyncpg / psycopg_pool / psycopg2 pools
CURSOR: Final = "cursor"
DBANY: Final = "db"  # a name that looks like a DB handle but whose exact kind is unknown
HTTP: Final = "http"  # httpx / requests / aiohttp clients
BOTO: Final = "boto"  # boto3 clients and resources
SMTP: Final = "smtp"
LLM: Final = "llm"  # OpenAI-style SDK clients

DB_KINDS: Final = frozenset({ENGINE, SESSIONMAKER, SESSION, CONNECTION, POOL, CURSOR, DBANY})
IO_KINDS: Final = frozenset({HTTP, BOTO, SMTP, LLM})

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
DB_TOKENS: Final = re.compile(
    rb"^[ \t]*(?:from|import)[ \t]+(?:sqlalchemy|sqlmodel|asyncpg|psycopg|psycopg2|psycopg_pool|django|"
    rb"flask_sqlalchemy|databases|tortoise|gino|ormar|piccolo|peewee|aiopg|pg8000|psycopg2cffi)\b",
    re.M,
)
# ... and one that matches none of these creates no event loop (PW102's constructs).
LOOP_TOKENS: Final = re.compile(
    rb"new_event_loop|run_until_complete|asyncio\.run\(|anyio\.run\(|async_to_sync|"
    rb"from[ \t]+(?:asyncio|anyio)[ \t]+import[^\n]*\brun\b"
)

# -- constructors and factories: qualified name -> kind of the value they return -----------------
FACTORIES: Final[dict[str, str]] = {
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
}

# Annotations: the last component of a type name -> kind (only when imported from a DB module).
ANNOTATIONS: Final[dict[str, str]] = {
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
IO_ANNOTATIONS: Final[dict[str, str]] = {
    "httpx.AsyncClient": HTTP,
    "httpx.Client": HTTP,
    "requests.Session": HTTP,
    "aiohttp.ClientSession": HTTP,
    "openai.OpenAI": LLM,
    "openai.AsyncOpenAI": LLM,
}

# Names that, in a database-aware module, are taken to be DB handles.
NAME_HINTS: Final[dict[str, str]] = {
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

# -- methods: (kind, method) -> effect ---------------------------------------------------------
# Effects: "db" (runs SQL / talks to the server), "release" (gives a connection back),
# "end" (ends the transaction), "tx" (context that holds a transaction),
# "hold" (context that holds a checked-out connection), "acquire" (returns a checked-out
# connection the caller must release), "lazy" (a session: holds a connection once used),
# "io" (external I/O).
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

METHOD_EFFECTS: Final[dict[tuple[str, str], str]] = {
    (ENGINE, "connect"): "hold",
    (ENGINE, "begin"): "tx",
    (ENGINE, "raw_connection"): "acquire",
    (SESSIONMAKER, "begin"): "tx",
    (SESSION, "begin"): "tx",
    (SESSION, "begin_nested"): "tx",
    (SESSION, "connection"): "hold",
    (CONNECTION, "begin"): "tx",
    (CONNECTION, "transaction"): "tx",
    (CONNECTION, "begin_nested"): "tx",
    (POOL, "acquire"): "acquire",
    (POOL, "getconn"): "acquire",
    (POOL, "connection"): "hold",
    (DBANY, "begin"): "tx",
    (DBANY, "connect"): "hold",
    (DBANY, "acquire"): "acquire",
    (DBANY, "transaction"): "tx",
}
# Method calls whose result kind is known.
METHOD_RESULTS: Final[dict[tuple[str, str], str]] = {
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
}

# -- external I/O -------------------------------------------------------------------------------
HTTP_METHODS: Final = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream", "ws_connect"}
)
SMTP_METHODS: Final = frozenset({"sendmail", "send_message", "login", "starttls", "connect", "ehlo"})

IO_FUNCTIONS: Final[dict[str, str]] = {
    **{f"requests.{m}": "HTTP" for m in ("get", "post", "put", "patch", "delete", "head", "options", "request")},
    **{f"httpx.{m}": "HTTP" for m in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")},
    "aiohttp.request": "HTTP",
    "urllib.request.urlopen": "HTTP",
    "urllib.request.urlretrieve": "HTTP",
    "urllib3.request": "HTTP",
    "time.sleep": "a sleep",
    "asyncio.sleep": "a sleep",
    "gevent.sleep": "a sleep",
    "subprocess.run": "a subprocess",
    "subprocess.call": "a subprocess",
    "subprocess.check_call": "a subprocess",
    "subprocess.check_output": "a subprocess",
    "subprocess.Popen": "a subprocess",
    "asyncio.create_subprocess_exec": "a subprocess",
    "asyncio.create_subprocess_shell": "a subprocess",
    "os.system": "a subprocess",
    "socket.create_connection": "a socket connect",
    "smtplib.SMTP": "SMTP",
    "smtplib.SMTP_SSL": "SMTP",
    "aiosmtplib.send": "SMTP",
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

HEALTH_FUNCTION: Final = re.compile(r"health|ping|alive|liveness|readiness|ready|heartbeat|probe", re.I)

# Functions that run once per process: an engine or a default pool there is not multiplied.
ENTRY_POINTS: Final = frozenset(
    {"main", "cli", "run_migrations_online", "run_migrations_offline", "lifespan", "create_app", "init_db",
     "setup", "upgrade", "downgrade"}
)
