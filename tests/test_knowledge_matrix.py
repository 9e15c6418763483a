"""The libraries the rules know, one line each: every I/O kind inside every kind of held connection.

PW104 is the rule that needs both tables (DB handles and I/O calls), so it is the probe.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from .conftest import cli, run_check, write_tree

IO_CALLS = {
    "httpx_client": ("import httpx", "async with httpx.AsyncClient() as client:\n    await client.post(URL)"),
    "httpx_module": ("import httpx", "httpx.get(URL)"),
    "requests": ("import requests", "requests.post(URL, timeout=5)"),
    "requests_session": ("import requests", "s = requests.Session()\ns.get(URL)"),
    "aiohttp": ("import aiohttp", "async with aiohttp.ClientSession() as http:\n    await http.get(URL)"),
    "urllib": ("import urllib.request", "urllib.request.urlopen(URL)"),
    "boto3": ("import boto3", "boto3.client('s3').put_object(Bucket='b', Key='k', Body=b'')"),
    "smtplib": ("import smtplib", "smtplib.SMTP('mail').sendmail('a', ['b'], 'x')"),
    "subprocess": ("import subprocess", "subprocess.run(['true'], check=True)"),
    "time_sleep": ("import time", "time.sleep(1)"),
    "asyncio_sleep": ("import asyncio", "await asyncio.sleep(1)"),
    "openai": ("from openai import AsyncOpenAI",
               "llm = AsyncOpenAI()\nawait llm.chat.completions.create(model='m', messages=[])"),
    "celery_enqueue": ("from .tasks import notify", "notify.delay(1)"),
}

HOLDERS = {
    "sqlalchemy_engine_begin": ("from sqlalchemy.ext.asyncio import AsyncEngine", "engine: AsyncEngine",
                                "async with engine.begin() as conn:\n        await conn.execute(Q)"),
    "sqlalchemy_session_used": ("from sqlalchemy.ext.asyncio import AsyncSession", "session: AsyncSession",
                                "if True:\n        await session.execute(Q)"),
    "sqlalchemy_sync_connect": ("from sqlalchemy import Engine", "engine: Engine",
                                "with engine.connect() as conn:\n        conn.execute(Q)"),
    "asyncpg_pool_acquire": ("import asyncpg", "pool: asyncpg.Pool",
                             "async with pool.acquire() as conn:\n        await conn.fetch(Q)"),
    "asyncpg_transaction": ("import asyncpg", "conn: asyncpg.Connection",
                            "async with conn.transaction():\n        await conn.execute(Q)"),
    "psycopg_pool_connection": ("from psycopg_pool import AsyncConnectionPool", "pool: AsyncConnectionPool",
                                "async with pool.connection() as conn:\n        await conn.execute(Q)"),
    "psycopg2_getconn": ("import psycopg2.pool", "pool: psycopg2.pool.ThreadedConnectionPool",
                         "conn = pool.getconn()\n    if True:\n        conn.cursor().execute(Q)"),
    "django_atomic": ("from django.db import transaction", "order",
                      "with transaction.atomic():\n        order.save()"),
}


@pytest.mark.parametrize("holder", list(HOLDERS))
@pytest.mark.parametrize("io", list(IO_CALLS))
def test_io_inside_each_holder_is_pw104(tmp_path: Path, holder: str, io: str) -> None:
    h_import, param, opening = HOLDERS[holder]
    io_import, call = IO_CALLS[io]
    body = "\n".join("        " + line if i else line for i, line in enumerate(call.splitlines()))
    source = (f"{h_import}\n{io_import}\n\nURL = 'https://x'\nQ = 'SELECT 1'\n\n\n"
              f"async def work({param}):\n    {opening}\n        {body}  # here\n")
    tasks = "from celery import shared_task\n\n@shared_task\ndef notify(n):\n    pass\n"
    write_tree(tmp_path, {"app/m.py": source, "app/tasks.py": tasks})
    marked = next(n for n, line in enumerate(source.splitlines(), 1) if line.endswith("# here"))
    found = {f.line for f in run_check([tmp_path]) if f.code == "PW104" and f.path.endswith("m.py")}
    assert marked in found, source


def test_stdlib_sample_with_broken_files_is_an_answer(tmp_path: Path) -> None:
    lib = Path(sysconfig.get_paths()["stdlib"])
    targets = [lib / "asyncio", lib / "json", lib / "concurrent"]
    bad = sorted((lib / "test" / "tokenizedata").glob("bad*.py"))
    if not bad:
        pytest.skip("this Python ships no test/ directory")
    proc = cli("check", *map(str, targets + bad), "--no-cache", "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    import json

    data = json.loads(proc.stdout)
    pw000 = {Path(d["path"]).name for d in data if d["code"] == "PW000"}
    assert {p.name for p in bad} <= pw000


DB_OPERATIONS = {
    "sqlalchemy_async_session": ("from sqlalchemy.ext.asyncio import AsyncSession", "db: AsyncSession",
                                 "await db.execute(Q)"),
    "sqlalchemy_orm_query": ("from sqlalchemy.orm import Session", "session: Session",
                             "session.query(User).first()"),
    "sqlalchemy_engine": ("import sqlalchemy", "engine: sqlalchemy.Engine",
                          "engine.connect().execute(Q)"),
    "asyncpg_pool": ("import asyncpg", "pool: asyncpg.Pool", "await pool.fetchrow(Q)"),
    "asyncpg_connect": ("import asyncpg", "dsn", "await asyncpg.connect(dsn)"),
    "psycopg3": ("import psycopg", "conn: psycopg.AsyncConnection", "await conn.execute(Q)"),
    "psycopg2_cursor": ("import psycopg2", "conn", "conn.cursor().execute(Q)"),
    "psycopg_pool": ("from psycopg_pool import ConnectionPool", "pool: ConnectionPool",
                     "pool.getconn().execute(Q)"),
    "django_orm": ("from django.db import models", "org_id", "Plan.objects.get(org_id=org_id)"),
}


@pytest.mark.parametrize("op", list(DB_OPERATIONS))
@pytest.mark.parametrize(("caught", "flagged"), [
    ("Exception", True), ("BaseException", True), ("OSError", True), ("sqlalchemy.exc.OperationalError", True),
    ("ValueError", False), ("KeyError", False),
])
def test_swallowing_each_drivers_failure_is_pw101(tmp_path: Path, op: str, caught: str, flagged: bool) -> None:
    d_import, param, call = DB_OPERATIONS[op]
    source = (f"import sqlalchemy.exc\n{d_import}\n\nQ = 'SELECT 1'\n\n\nasync def lookup({param}):\n"
              f"    try:\n        return {call}\n    except {caught}:  # here\n        return None\n")
    write_tree(tmp_path, {"app/m.py": source})
    found = {f.line for f in run_check([tmp_path]) if f.code == "PW101"}
    assert found == ({10} if flagged else set()), source
