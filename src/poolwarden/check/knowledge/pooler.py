"""What a transaction-mode pooler (PgBouncer ``pool_mode = transaction``) breaks, and what tells code runs behind one.

Promises: the calls that send SQL text (and the functions that wrap SQL text for them), the statements and
server functions that leave session state on a server connection, the driver options that keep server-side
prepared statements on, and the code signals strong enough to say "this project runs behind a transaction
pooler" (PW111). Data only; the tokenizer is :mod:`poolwarden.check.sql`.
"""

from __future__ import annotations

from typing import Final

# -- where SQL text is sent ---------------------------------------------------------------------------
# Methods whose first argument (or one of SQL_KEYWORDS) is SQL text: on a DB handle, or on any receiver in a
# database-aware module (a cursor named `c`), unless the receiver is a known non-database client.
SQL_METHODS: Final = frozenset(
    {"execute", "executemany", "exec_driver_sql", "fetch", "fetchrow", "fetchval", "scalar", "scalars",
     "stream", "stream_scalars", "raw"}
)
SQL_KEYWORDS: Final = ("query", "statement", "sql", "operation")
SQL_FORMAT_METHODS: Final = frozenset({"format"})  # "SET x = {}".format(v): the template is the SQL text
# Functions that wrap SQL text into an object a driver or ORM runs (their first argument is SQL text).
SQL_TEXT_FUNCTIONS: Final = frozenset(
    {"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text", "sqlmodel.text",
     "psycopg.sql.SQL", "psycopg2.sql.SQL", "django.db.models.expressions.RawSQL", "django.db.models.RawSQL"}
)

# -- statements that leave session state (SQL keywords, upper case) -------------------------------------
# `SET <name>` and `SET SESSION <name>` are session state; these second words make a `SET` that is not.
SET_TRANSACTION_SCOPED: Final = frozenset({"LOCAL", "TRANSACTION", "CONSTRAINTS"})
SET_SESSION_WORDS: Final = frozenset({"CHARACTERISTICS", "AUTHORIZATION"})  # SET SESSION <word>: cited whole
TEMP_WORDS: Final = frozenset({"TEMP", "TEMPORARY"})
TEMP_OBJECTS: Final = frozenset({"TABLE", "VIEW", "SEQUENCE"})
# CREATE [OR REPLACE] [GLOBAL | LOCAL] TEMP [RECURSIVE] VIEW ...: the words around TEMP and the object.
CREATE_PREFIX_WORDS: Final = frozenset({"OR", "REPLACE", "GLOBAL", "LOCAL", "RECURSIVE"})
# Server functions that take a lock held until the session ends (their `_xact_` forms end with the transaction).
SESSION_LOCK_FUNCTIONS: Final = frozenset(
    {"pg_advisory_lock", "pg_try_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock_shared"}
)
# ... called through SQLAlchemy's function namespace (``func.pg_advisory_lock(42)``: "<namespace>.<name>").
SQL_FUNCTION_NAMESPACES: Final = frozenset(
    {"sqlalchemy.func", "sqlalchemy.sql.func", "sqlalchemy.sql.expression.func", "sqlalchemy.sql.functions.func",
     "sqlmodel.func"}
)
# Library calls that take a session advisory lock (django-pglocks' advisory_lock: pg_advisory_lock, or
# pg_try_advisory_lock with wait=False, and the unlock at the block's exit).
SESSION_LOCK_CALLS: Final = frozenset({"django_pglocks.advisory_lock"})
# set_config(name, value, is_local): a false is_local sets the parameter for the session.
SET_CONFIG_FUNCTION: Final = "set_config"
FALSE_LITERALS: Final = frozenset({"false", "f", "off", "no", "0", "n"})

# -- driver options -----------------------------------------------------------------------------------
# asyncpg keeps a per-connection cache of named server-side prepared statements unless this is 0.
ASYNCPG_CONNECTS: Final = frozenset(
    {"asyncpg.connect", "asyncpg.create_pool", "asyncpg.pool.create_pool", "asyncpg.connection.connect"}
)
ASYNCPG_CACHE_OPTION: Final = "statement_cache_size"
# SQLAlchemy's asyncpg dialect keeps its own cache of prepared statements (URL query or connect_args).
SQLALCHEMY_ASYNCPG_CACHE_OPTION: Final = "prepared_statement_cache_size"
# psycopg 3 prepares a query on the server after `prepare_threshold` (default 5) executions; None: never.
PSYCOPG_CONNECTS: Final = frozenset(
    {"psycopg.connect", "psycopg.Connection.connect", "psycopg.AsyncConnection.connect"}
)
PSYCOPG_POOLS: Final = frozenset(
    {"psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool", "psycopg_pool.NullConnectionPool",
     "psycopg_pool.AsyncNullConnectionPool"}
)
PSYCOPG_PREPARE_OPTION: Final = "prepare_threshold"
PSYCOPG_POOL_KWARGS: Final = "kwargs"
PREPARE_KEYWORD: Final = "prepare"  # cursor.execute(query, prepare=True): prepared at once
SQLALCHEMY_ENGINE_FACTORIES: Final = frozenset(
    {"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlalchemy.ext.asyncio.create_async_engine"}
)
CONNECT_ARGS: Final = "connect_args"
ASYNCPG_DRIVER: Final = "+asyncpg"
PSYCOPG3_DRIVERS: Final = ("+psycopg:", "+psycopg_async:")  # not psycopg2
# psycopg's named cursor kept past its transaction: conn.cursor("name", withhold=True).
WITHHOLD_KEYWORD: Final = "withhold"
CURSOR_METHOD: Final = "cursor"
# asyncpg's conn.add_listener(channel, callback) sends LISTEN.
LISTENER_METHOD: Final = "add_listener"

# -- code signals of a transaction pooler ---------------------------------------------------------------
# poolwarden's own engines in PgBouncer mode.
POOLWARDEN_PGBOUNCER_CALLS: Final = frozenset(
    {"poolwarden.runtime.engine.create_engine", "poolwarden.runtime.engine.create_async_engine",
     "poolwarden.runtime.engine.PoolSettings", "poolwarden.runtime.create_engine",
     "poolwarden.runtime.create_async_engine"}
)
PGBOUNCER_KEYWORD: Final = "pgbouncer"
# Django documents DISABLE_SERVER_SIDE_CURSORS = True for transaction pooling only. (asyncpg's
# statement_cache_size=0 and psycopg's prepare_threshold=None configure one connection: not signals.)
DJANGO_NO_SERVER_CURSORS: Final = "DISABLE_SERVER_SIDE_CURSORS"
POOLER_TOKEN_WORDS: Final = (b"pgbouncer", b"DISABLE_SERVER_SIDE_CURSORS")

# -- pgbouncer.ini --------------------------------------------------------------------------------------
POOL_MODES: Final = ("session", "transaction", "statement")
POOLER_MODES: Final = frozenset({"transaction", "statement"})  # modes that hand server connections around
PGBOUNCER_DEFAULT_MODE: Final = "session"

# -- what breaks (message tails) ------------------------------------------------------------------------
NEXT_TX_ELSEWHERE: Final = "the next transaction on this client may run on another server connection"
BREAKS_SET: Final = (f"{NEXT_TX_ELSEWHERE}: the setting stays on a connection another client gets, and this "
                     "client may run without it; use `SET LOCAL` inside the transaction (or set_config(..., true))")
BREAKS_LOCK: Final = (f"{NEXT_TX_ELSEWHERE}: the unlock may run elsewhere (returns false) while the lock stays "
                      "held by a server connection other clients use; use the `_xact_` form inside one transaction")
BREAKS_LISTEN: Final = ("notifications go to whichever server connection ran LISTEN, which PgBouncer hands to "
                        "other clients; listen on a direct (non-pooled) connection")
BREAKS_PREPARE: Final = (f"{NEXT_TX_ELSEWHERE}: the prepared statement exists only on the connection that "
                         "prepared it (\"prepared statement ... does not exist\"); run the query unprepared")
BREAKS_DRIVER_PREPARE: Final = (f"{NEXT_TX_ELSEWHERE}: a statement the driver prepared there is missing or another "
                                "client's; turn the driver's prepared statements off (or PgBouncer >= 1.21 with "
                                "max_prepared_statements)")
BREAKS_TEMP: Final = (f"{NEXT_TX_ELSEWHERE}: the temporary object stays on a connection another client gets and is "
                      "gone for this one; use `ON COMMIT DROP` inside one transaction")
BREAKS_HOLD: Final = (f"{NEXT_TX_ELSEWHERE}: a cursor kept past its transaction stays on that connection and is gone "
                      "for this client; read it inside one transaction (WITHOUT HOLD)")
