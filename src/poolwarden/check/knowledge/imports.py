"""What an import says about a file: a database-aware module, a library, test code.

Promises: the module names whose import makes a file "database-aware", the raw-text pre-scan patterns
(and the plain words each needs) that let a file be skipped before it is parsed, the packages of test
code, and the import roots that are libraries, never project code. Data only.
"""

from __future__ import annotations

import re
from typing import Final

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
SETTINGS_TOKEN_WORDS: Final = (b"DATABASES", b"ASGI_APPLICATION", b"INSTALLED_APPS", b"sgi_application", b"uvicorn",
                                b"Uvicorn")

# Raw-text pre-scan: a module that sets Django's DATABASES is walked even if it imports nothing, and so
# is one that may say the project serves ASGI (settings, asgi.py / wsgi.py, a server's config).
SETTINGS_TOKENS: Final = re.compile(
    rb"^DATABASES[ \t]*[=\[]|^(?:ASGI_APPLICATION|INSTALLED_APPS)\b|get_[aw]sgi_application"
    rb"|uvicorn\.run\(|UvicornWorker",
    re.M,
)

# Packages whose modules are test code (a module `tests.unit.db.helpers`).
TEST_PACKAGES: Final = frozenset({"tests", "test"})

# -- which imports are libraries (never project code) -----------------------------------------------
THIRD_PARTY_ROOTS: Final = frozenset(
    {"slack_sdk", "slack", "twilio", "stripe", "aioboto3", "grpc",
     "httpx", "requests", "aiohttp", "boto3", "botocore", "openai", "anthropic", "celery",
     "fastapi", "starlette", "pydantic", "flask", "redis", "kombu", "urllib3", "structlog",
     "sentry_sdk", "typer", "click", "numpy", "pandas", "attr", "attrs"}
)
