"""The kinds of values the analysis tells apart, what a call does to a connection, and kinds of I/O.

Promises: :class:`Kind`, :class:`Effect` and :class:`Io` are the one vocabulary every other table of
the knowledge package is written in; the module-level constants (``ENGINE``, ``SESSION``...) are the
members of :class:`Kind` under short names. Data only.
"""

from __future__ import annotations

import enum
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
    QUERYSET = "queryset"  # a Django QuerySet or manager: runs its query when evaluated
    MODEL = "model"  # a Django model instance: ``save()``, ``delete()``, its related managers


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
QUERYSET: Final = Kind.QUERYSET
MODEL: Final = Kind.MODEL

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
