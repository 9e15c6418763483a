"""Where values of each kind come from: constructors and factories, type annotations, names.

Promises: qualified name of a constructor or factory -> the :class:`Kind` of what it returns; the last
component of a DB type annotation -> its kind; the names that, in a database-aware module, are taken
to be DB handles. Data only.
"""

from __future__ import annotations

from typing import Final

from poolwarden.check.knowledge.kinds import (
    API,
    BOTO,
    CONNECTION,
    CURSOR,
    DBANY,
    ENGINE,
    HTTP,
    LLM,
    POOL,
    SESSION,
    SESSIONMAKER,
    SMTP,
    Kind,
)

# -- Django's process-wide handles: an imported name -> its kind; a mapping whose items are handles ---
LIBRARY_HANDLES: Final[dict[str, Kind]] = {"django.db.connection": CONNECTION}
HANDLE_MAPS: Final[dict[str, Kind]] = {"django.db.connections": CONNECTION}  # connections["replica"]
# Functions that run a query and return its rows (or raise Http404).
DB_FUNCTIONS: Final = frozenset({"django.shortcuts.get_object_or_404", "django.shortcuts.get_list_or_404",
                                 "django.shortcuts.aget_object_or_404", "django.shortcuts.aget_list_or_404"})
# I/O clients whose constructor does not connect (the message is built in memory; ``send()`` goes out).
OFFLINE_FACTORIES: Final = frozenset({"django.core.mail.EmailMessage", "django.core.mail.EmailMultiAlternatives",
                                      "django.core.mail.get_connection"})

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
    "django.core.mail.EmailMessage": SMTP,
    "django.core.mail.EmailMultiAlternatives": SMTP,
    "django.core.mail.get_connection": SMTP,
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
