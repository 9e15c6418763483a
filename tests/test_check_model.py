"""What the semantic model sees across real code's shapes: each case pins code, line, column and message.

Each test is a small project written to a temporary directory and checked through the library
(the CLI's path: ``check_paths``), so cross-module resolution, the pre-scan and the cache all take part.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolwarden.check import check_paths
from poolwarden.check.config import CheckConfig
from poolwarden.check.modules import module_name

from .conftest import write_tree

_IDLE = ("the connection sits idle in transaction for the whole wait; finish the transaction first (read, "
         "commit, then call) and write back in a fresh, short transaction")
_RELEASE = "release it in a `finally` block, or acquire it with `with` / `async with`"


def findings(base: Path, monkeypatch: pytest.MonkeyPatch, *, cache: bool = False) -> list[str]:
    monkeypatch.chdir(base)
    result = check_paths(["."], CheckConfig(cache_dir=str(base / ".cache")), use_cache=cache, jobs=1)
    return [f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in result.findings]


POOL = """\
import asyncpg

pool = None

async def init():
    global pool
    pool = await asyncpg.create_pool("postgresql://db/app", min_size=1, max_size=5, timeout=5)
"""

HANDLER = """\
import httpx
from .pool import pool

async def enrich(uid):
    async with pool.acquire() as conn:
        await conn.execute("select 1")
        async with httpx.AsyncClient() as c:
            await c.get("https://example.com")

async def count():
    conn = await pool.acquire()
    n = await conn.fetchval("select 1")
    await pool.release(conn)
    return n
"""


def test_a_pool_imported_from_a_module_of_the_same_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from .pool import pool`` in a module that imports no driver itself: its handles are seen."""
    write_tree(tmp_path, {"app/pool.py": POOL, "app/handler.py": HANDLER})
    assert findings(tmp_path, monkeypatch) == [
        f"app/handler.py:8:19: PW104 HTTP (c.get()) while the connection of `pool.acquire()` (line 5) is held: "
        f"{_IDLE}",
        f"app/handler.py:11:18: PW105 `pool.acquire()` acquires `conn`, but an exception at line 12 leaves it "
        f"unreleased: {_RELEASE}",
    ]


def test_the_cache_rewalks_a_module_whose_import_stops_being_db_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"app/pool.py": POOL, "app/handler.py": HANDLER})
    assert len(findings(tmp_path, monkeypatch, cache=True)) == 2
    (tmp_path / "app" / "pool.py").write_text("pool = object()\n")  # handler.py itself is unchanged
    assert findings(tmp_path, monkeypatch, cache=True) == []
    (tmp_path / "app" / "pool.py").write_text(POOL)
    assert len(findings(tmp_path, monkeypatch, cache=True)) == 2


REPO = """\
import httpx
from dataclasses import dataclass
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


class UserRepo:
    def __init__(self, session: AsyncSession):
        self.s = session

    async def get(self, uid):
        return (await self.s.execute(select(1))).scalar()


class Repos:
    def __init__(self, session: AsyncSession):
        self.users = UserRepo(session)


@dataclass
class Syncer:
    client: httpx.AsyncClient
    session: AsyncSession

    async def sync(self, uid):
        user = await self.session.get(User, uid)
        profile = await self.client.get(f"https://api/users/{uid}")
        user.name = profile.json()["name"]
        await self.session.commit()

    async def refresh(self):
        await self.session.commit()
        await self.client.get("https://api/ping")  # after commit: nothing held
"""

API = """\
from .repo import Repos, UserRepo


class Handler:
    async def lookup(self, uid):
        try:
            return await self.repos.users.get(uid)
        except Exception:
            return None

    def __init__(self, repos: Repos):
        self.repos = repos  # assigned after the method that uses it: order does not matter


async def other(repo: UserRepo):
    try:
        return await repo.get(1)
    except Exception:
        return None
"""

_LIE = "callers cannot tell 'no' from 'could not check'; re-raise transient errors (`raise_if_transient(exc)` or " \
       "`if is_transient(exc): raise`)"


def test_handles_kept_on_objects_and_repositories_reached_through_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``self.session`` from a dataclass field or ``__init__``; ``self.repos.users.get()`` through
    the attributes' project classes, across modules."""
    write_tree(tmp_path, {"app/repo.py": REPO, "app/api.py": API})
    assert findings(tmp_path, monkeypatch) == [
        "app/api.py:8:9: PW101 `except Exception` turns a database failure (`self.repos.users.get() at line 7` "
        f"reaches UserRepo.get() → self.s.execute() at line 12 in app/repo.py) into `return None`: {_LIE}",
        "app/api.py:18:5: PW101 `except Exception` turns a database failure (`repo.get() at line 17` reaches "
        f"UserRepo.get() → self.s.execute() at line 12 in app/repo.py) into `return None`: {_LIE}",
        "app/repo.py:27:25: PW104 HTTP (self.client.get()) while the session `self.session` is held: " + _IDLE,
    ]


DB = """\
from contextlib import contextmanager
from sqlalchemy.orm import sessionmaker

SessionLocal = sessionmaker()


@contextmanager
def get_session():
    with SessionLocal() as s:
        yield s
"""

NOTIFY = """\
import stripe
from slack_sdk import WebClient
from .db import get_session

client = WebClient(token="x")


def notify(uid):
    with get_session() as db_session:
        db_session.info["seen"] = True  # no statement yet: nothing held
        client.chat_postMessage(channel="c", text="starting")
        user = db_session.get(User, uid)
        client.chat_postMessage(channel="c", text=user.name)
        stripe.Customer.create(email=user.email)
"""


def test_a_session_from_a_project_helper_and_sdk_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``with get_session() as db_session:`` (a helper in another module) holds the session once it
    has run a statement; Slack's WebClient and Stripe's resources are network calls."""
    write_tree(tmp_path, {"app/db.py": DB, "app/notify.py": NOTIFY})
    assert findings(tmp_path, monkeypatch) == [
        "app/notify.py:13:9: PW104 an API call (client.chat_postMessage()) while the session of `get_session()` "
        "(line 9) is held: " + _IDLE,
        "app/notify.py:14:9: PW104 an API call (stripe.Customer.create()) while the session of `get_session()` "
        "(line 9) is held: " + _IDLE,
    ]


SERVICE = """\
from .crud import create_item, load_items
from .db import get_session
from .worker import celery_app


def add(payload):
    with get_session() as db_session:
        create_item(db_session, payload)  # commits at its end
        celery_app.send_task("index", kwargs={"id": 1})  # nothing held any more


def refresh():
    with get_session() as db_session:
        items = load_items(db_session)  # a query: the transaction is open
        celery_app.send_task("refresh", kwargs={"n": len(items)})
"""

CRUD = """\
from sqlalchemy import select


def create_item(db_session, payload):
    db_session.add(payload)
    db_session.commit()


def load_items(db_session):
    return db_session.scalars(select(1)).all()
"""


def test_a_session_handed_to_a_function_that_commits_holds_nothing_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"app/db.py": DB, "app/crud.py": CRUD, "app/service.py": SERVICE,
                          "app/worker.py": "from celery import Celery\ncelery_app = Celery('w')\n"})
    assert findings(tmp_path, monkeypatch) == [
        "app/service.py:15:9: PW104 a task enqueue (celery_app.send_task()) while the session of `get_session()` "
        "(line 13) is held: " + _IDLE,
    ]


VIEW = """\
from django.http import HttpResponseRedirect
from .hosts import base_host
from .models import User


def sign_out(request):
    try:
        user = User.objects.get(pk=request.user.id)
        user.save()
        return HttpResponseRedirect(base_host(request))
    except Exception:
        return HttpResponseRedirect(base_host(request))
"""


def test_a_handler_calling_project_code_that_never_reaches_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler calls ``base_host()`` (no database in it): the DB failure is still swallowed.
    A handler with project calls used to lose the ``try`` body's own DB call altogether."""
    write_tree(tmp_path, {"app/views.py": VIEW, "app/models.py": "User = None\n",
                          "app/hosts.py": "def base_host(request):\n    return 'https://app'\n"})
    assert findings(tmp_path, monkeypatch) == [
        "app/views.py:11:5: PW101 `except Exception` turns a database failure (`User.objects.get() at line 8`) "
        f"into `return HttpResponseRedirect(base_host(request))`: {_LIE}",
    ]


LATE = """\
import httpx
from sqlalchemy import create_engine, text


def handler():
    with store.begin() as conn:
        conn.execute(text("SELECT 1"))
        httpx.get("https://example.com", timeout=5)


store = create_engine("postgresql+psycopg://db/app", pool_size=1, max_overflow=0, pool_timeout=5,
                      connect_args={"connect_timeout": 5})
"""


def test_a_module_level_engine_defined_below_the_function_that_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No finding depends on the order in which a module defines its names."""
    write_tree(tmp_path, {"app/late.py": LATE})
    assert findings(tmp_path, monkeypatch) == [
        "app/late.py:8:9: PW104 HTTP (httpx.get()) while the transaction of `store.begin()` (line 6) is held: "
        + _IDLE,
    ]


BRANCHES = """\
import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session


def refresh(db: Session, cached):
    if cached:
        row = db.scalars(select(1)).first()
    else:
        row = httpx.get("https://example.com/row", timeout=5).json()  # nothing ran on db here
    httpx.post("https://example.com/seen", json=row, timeout=5)  # after the if: db may be open
"""


def test_each_branch_starts_from_the_state_before_the_if(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"app/branches.py": BRANCHES})
    assert findings(tmp_path, monkeypatch) == [
        "app/branches.py:11:5: PW104 HTTP (httpx.post()) while the session `db` is held: " + _IDLE,
    ]


def test_a_namespace_portion_inside_a_package_keeps_the_package_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``app/bot/slack/`` has no ``__init__.py`` but ``app/`` has: ``app.bot.slack.utils`` (PEP 420), so the
    handler's import of it resolves and the Slack call is seen inside the transaction."""
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/db.py": "from sqlalchemy.orm import Session\n\ndef get_user(db: Session, uid):\n"
                     "    return db.execute('select 1')\n",
        "app/bot/slack/utils.py": "from slack_sdk import WebClient\n\ndef reply(client: WebClient, text):\n"
                                  "    client.chat_postMessage(channel='c', text=text)\n",
        "app/bot/slack/handlers/__init__.py": "",
        "app/bot/slack/handlers/message.py": (
            "from app.db import get_user\nfrom app.bot.slack.utils import reply\n\n"
            "def handle(db, client, uid):\n    with db.begin():\n        get_user(db, uid)\n"
            "        reply(client, 'hi')\n"),
    })
    for portion in ("app/bot/slack", "app/bot"):  # write_tree made them packages: make them namespace portions
        (tmp_path / portion / "__init__.py").unlink()
    expected = [
        "app/bot/slack/handlers/message.py:7:9: PW104 `reply()` does external I/O (reply() → an API call "
        "(client.chat_postMessage()) at line 4 in app/bot/slack/utils.py) while the transaction of "
        "`db.begin()` (line 5) is held: " + _IDLE,
    ]
    assert findings(tmp_path, monkeypatch, cache=True) == expected
    assert findings(tmp_path, monkeypatch) == expected
    assert module_name(tmp_path / "app/bot/slack/utils.py") == ("app.bot.slack.utils", False, str(tmp_path))
    assert module_name(tmp_path / "app/bot/slack/handlers/message.py")[0] == "app.bot.slack.handlers.message"
