"""PW101 swallowed-db-error: an ``except`` that turns a database outage into a made-up answer."""

from __future__ import annotations

from poolwarden.check.rule import example
from poolwarden.check.swallows import LIE_ADVICE, Swallow, SwallowRule, Verdict

# The models module of the Django examples.
MODELS_DOCS = ("from django.db import models\n\n\nclass LiveManager(models.Manager):\n    pass\n\n\nclass Tag(models.Model):\n    name = models.CharField(max_length=20)\n\n\nclass Doc(models.Model):\n    tags = models.ManyToManyField(Tag)\n    metadata = models.JSONField(default=dict)\n    live = LiveManager()\n")


class SwallowedDbError(SwallowRule):
    CODE = "PW101"
    NAME = "swallowed-db-error"
    SUMMARY = "An `except` turns a database failure into a made-up value or answer that the caller acts on."
    WHAT = """
Flags an `except` clause that catches a database outage — a broad `except Exception` / bare
`except:` or a driver error such as `OperationalError` — around code that touches the database
(directly, or through any chain of calls across modules), and then hands its caller a made-up
value as if nothing failed (the lie): `return <value>` (`None`, `[]`, `False`, a 2xx/4xx
response), a default for what the `try` was computing (`stats = None`), or an implicit `None` (a
bare `return`, or falling off the end) from a function that otherwise returns values.

Callers decide: the value counts only when someone can act on it. When every project function
that calls this one drops the result (`f()` as a statement), or the function is a Celery task
(its return value goes unread), the failure only skips work: that is
[PW108](PW108.md) skipped-db-work, off by default, like work skipped with a log line, `pass` or
`continue`. A function no checked code calls (a route, a handler a framework dispatches to)
answers outside the process, and is flagged.

Django's ORM is read as Django runs it: a QuerySet (`Doc.objects.filter(...)`, a custom manager,
a related manager such as `doc.tags.all()`) runs its query where it is evaluated — iterated,
`list()`, `len()`, `bool()`, `.exists()`, `.get()`, `.count()`, `.update()`... and their async
forms (`aget`, `acreate`, `async for`) —; a model instance's `save()` / `delete()` /
`refresh_from_db()` and a DRF generic view's inherited `destroy()`, `get_object()`, `perform_*()`
run statements, as does `serializer.save()`. A model is a class of a `models` module (Django's
convention).

Not flagged: a handler that re-raises (`raise`, `raise X from exc`, Celery's `self.retry()`),
an `except TimeoutError` around the code's own deadline (`asyncio.timeout`, `asyncio.wait_for`), one
that classifies and re-raises transient errors (`raise_if_transient(exc)`, or
`if is_transient(exc): raise` with any `*transient*` predicate), one that answers 5xx, an answer
that says it failed (`success=False`, `{"error": ...}`, `(False, msg)`, "Unable to ...", a
`400 Bad Request` — unlike a 401/403/404, which answers about the thing asked for), one
that returns the error in an explicit slot (`return None, str(exc)`, unless as a 2xx/4xx answer:
an outage is not the client's fault), a narrow `except` of a non-database error (`ValueError`,
`KeyError`) or of a business outcome (`IntegrityError`, `NoResultFound`), a handler that goes to
the database itself (it fails again during an outage), retry and polling loops, health checks
(whose job is to say "down"), and test modules.
"""
    WHY = """
During an outage the database raises ("FATAL: sorry, too many clients already"). A handler that
returns `None` makes that indistinguishable from "no row": in the seed incident, customers were
told they had no subscription. The same value must never mean both "the answer is no" and
"I failed to get the answer". Swallows come in ecosystems: the service layer above the
selector often catches the re-raised error again, which is why this rule follows calls across
modules.
"""
    EXAMPLE = """
async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription).where(...))
        return result.scalar_one_or_none()
    except Exception:
        logger.warning("Failed to fetch subscription")
        return None
"""
    USE_INSTEAD = """
from poolwarden.runtime.errors import raise_if_transient

async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription).where(...))
        return result.scalar_one_or_none()
    except Exception as exc:
        raise_if_transient(exc)  # an outage propagates: 503 / retry upstream
        logger.warning("Failed to fetch subscription", exc_info=exc)
        return None
"""

    VALID = [
        example("""
import logging
from sqlalchemy import select
log = logging.getLogger(__name__)

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub).where(Sub.org == org_id))).scalar_one_or_none()
    except Exception:
        log.exception("lookup failed")
        raise
"""),
        example("""
from sqlalchemy import select
from poolwarden.runtime.errors import raise_if_transient

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception as exc:
        raise_if_transient(exc)
        return None
"""),
        example("""
from sqlalchemy import select
from .errors import is_transient_db_error

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception as exc:
        if is_transient_db_error(exc):
            raise
        return None
""", errors="def is_transient_db_error(exc):\n    return True\n"),
        example("""
import json
import sqlalchemy

def parse_settings(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return {}
""", note="near miss: a narrow except of a non-DB error, no database in the try body"),
        example("""
from sqlalchemy.exc import IntegrityError

def create_user(session, user):
    try:
        session.add(user)
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return user
""", note="near miss: a unique violation is a business outcome, not an outage"),
        example("""
from sqlalchemy import text

async def health(db):
    try:
        await db.execute(text("SELECT 1"))
        return {"db": "ok"}
    except Exception:
        return {"db": "down"}
""", note="near miss: a health check's job is to report the failure"),
        example("""
from .repo import load_user

def handler(user_id):
    try:
        return load_user(user_id)
    except Exception:
        return {"error": "unavailable"}, 503
""", repo="import psycopg2\n\ndef load_user(uid):\n    with psycopg2.connect('dbname=x connect_timeout=3') as c:\n        return c.cursor().execute('select 1')\n"),
        example("""
import psycopg2

def run_query(conn, sql):
    data, error = None, None
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            data = cur.fetchall()
    except psycopg2.DatabaseError as e:
        error = str(e)
    return data, error
""", note="near miss: the failure travels in an explicit error slot"),
        example("""
import requests
from sqlalchemy import text

def sync(session, url):
    try:
        session.execute(text("SELECT 1"))
        return requests.get(url, timeout=5).json()
    except requests.ConnectionError:
        return None
""", note="near miss: another library's ConnectionError is not a database outage"),
        example("""
import logging
import psycopg2

def stats(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            return cur.fetchone()[0]
    except psycopg2.OperationalError:
        raise
    except Exception:
        logging.exception("stats failed")
        return None
""", note="an earlier clause takes every psycopg2 outage: none reaches `except Exception`"),
        example("""
from .selectors import cached_plan

def plan_name(db, org_id):
    try:
        plan = cached_plan(db, org_id)
    except Exception:
        return None
    return plan.name if plan else None
""", note="the callee keeps its own DB errors (`except Exception` with no raise): none reaches this "
            "handler — the swallow, if any, is the callee's finding",
            selectors="import logging\nfrom sqlalchemy import select\n\ndef cached_plan(db, org_id):\n"
                      "    try:\n        return db.execute(select(Plan)).scalar_one_or_none()\n"
                      "    except Exception:\n        logging.exception('plan lookup failed')\n"
                      "        return None\n"),
        example("""
from flask import make_json_response
from .models import db, Job

def create_job(sid):
    try:
        db.session.add(Job(sid=sid))
        db.session.commit()
    except Exception as e:
        return make_json_response(status=410, success=0, errormsg=str(e))
    return make_json_response(data={"job": sid})
""", note="the answer says it failed (`success=0`, `errormsg`): the client is told, whatever the status code",
            models="from flask_sqlalchemy import SQLAlchemy\n\ndb = SQLAlchemy()\n\nclass Job(db.Model):\n    pass\n"),
        example("""
import logging
from sqlalchemy import text

def record_visit(db, uid):
    try:
        db.execute(text("insert into visits values (:u)"), {"u": uid})
        return True
    except Exception:
        logging.exception("visit not recorded")
        return False
""", note="callers decide: `record_visit` answers False on a failure, but its only caller (another module) "
            "drops the result — nobody is told a wrong answer; the skipped work is PW108's (off by default)",
            pages="from .example import record_visit\n\ndef open_page(db, uid, page):\n"
                  "    record_visit(db, uid)\n    return page.render()\n"),
        example("""
import logging
from celery import shared_task
from .db import SessionLocal, Event

@shared_task
def track_event(event_id):
    try:
        with SessionLocal() as session:
            session.get(Event, event_id)
            return True
    except Exception:
        logging.exception("event not tracked")
        return False
""", note="a Celery task's return value goes unread: the failure skips work (PW108), it tells no one a lie",
            db="from sqlalchemy import create_engine\nfrom sqlalchemy.orm import sessionmaker\n\n"
               "engine = create_engine('postgresql://x', pool_size=5, max_overflow=5, pool_timeout=5)\n"
               "SessionLocal = sessionmaker(engine)\n\nclass Event:\n    pass\n"),
        example("""
import logging
from sqlalchemy import text

def touch_last_seen(db, user_id):
    try:
        db.execute(text("UPDATE users SET seen = now() WHERE id = :u"), {"u": user_id})
    except Exception:
        logging.exception("last-seen not updated")
""", note="work skipped with a log line, nothing handed on: PW108 skipped-db-work (off by default), not a lie"),
        example("""
import logging
from .storage import bucket_listing
from .repo import list_download_rows

async def downloads(run_id):
    try:
        rows = await list_download_rows(run_id)
    except Exception:
        logging.warning("download rows unavailable; listing the bucket", exc_info=True)
        rows = []
    rows = [r for r in rows if r.done]
    if rows:
        return [r.url for r in rows]
    return await bucket_listing(run_id)
""", note="the default only switches to the function's other source of the answer (a fallback): the "
            "made-up `[]` is never handed on",
            storage="async def bucket_listing(run_id):\n    return []\n",
            repo="from sqlalchemy import select\n\nasync def list_download_rows(run_id, db=None):\n"
                 "    return (await db.scalars(select(Row))).all()\n"),
        example("""
from sqlalchemy import text

def regenerate(db, block):
    return None  # regeneration is disabled for now
    try:
        key = db.execute(text("select key from cache")).scalar()
    except Exception:
        key = ""
    return key
""", note="code after an early return never runs"),
        example("""
import asyncio
import logging
from .repo import list_files

async def files_or_none(run_id):
    try:
        async with asyncio.timeout(30):
            return await list_files(run_id)
    except asyncio.TimeoutError:
        logging.warning("listing files timed out")
        return None
""", note="`except TimeoutError` around the code's own deadline (`asyncio.timeout`, `wait_for`) catches "
            "that time limit, by design; the database's errors pass it by",
            repo="from sqlalchemy import select\n\nasync def list_files(run_id, db=None):\n"
                 "    return (await db.scalars(select(File))).all()\n"),
        example("""
from django.http import HttpResponseServerError, JsonResponse
from rest_framework import status
from rest_framework.response import Response
from .models import Doc

def theme(doc: Doc):
    try:
        return doc.metadata.get("theme", "light")
    except Exception:
        return "light"

def doc_page(request, doc_id):
    try:
        doc = Doc.objects.get(pk=doc_id)
    except Exception:
        return HttpResponseServerError("the database is unavailable")
    return JsonResponse({"id": doc.id})

def reset_inheritance(request):
    try:
        Doc.objects.filter(owner=request.user.id).update(inherited=False)
    except Exception:
        return Response({}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"message": "success"})
""", note="a model instance's JSONField read (`doc.metadata.get`) runs no query: on an instance's attribute, "
            "`get`, `update`, `count`... are more often a dict's or a list's than a related manager's; "
            "Django's `HttpResponseServerError` is a 500: an outage answered as one; a 400 tells the client the request "
            "failed",
            models=MODELS_DOCS),
    ]
    INVALID = [
        example("""
import logging
from sqlalchemy import select
logger = logging.getLogger(__name__)

async def get_active_subscription(db, organization_id):
    try:
        result = await db.execute(select(PlanSubscription))
        return result.scalar_one_or_none()
    except Exception:  # error
        logger.warning("Failed to fetch subscription")
        return None
"""),
        example("""
from .selectors import get_active_subscription

async def can_place_call(db, org_id):
    try:
        sub = await get_active_subscription(db, org_id)
    except Exception:  # error
        return False
    return sub is not None
""", note="cross-module: the DB call lives in another module",
            selectors="from sqlalchemy import select\n\nasync def get_active_subscription(db, org_id):\n    result = await db.execute(select(Sub))\n    return result.scalar_one_or_none()\n"),
        example("""
import asyncpg

async def count_users(pool):
    try:
        return await pool.fetchval("SELECT count(*) FROM users")
    except asyncpg.PostgresError:  # error
        return 0
"""),
        example("""
from .forge import app

async def cached_inputs(label):
    try:
        block = await app.DATABASE.scripts.get_block(label)
    except Exception:  # error
        return None
    return block.inputs
""", note="a module-level object declared by type (`app: App`, set at start-up), its attribute's "
            "repository, three modules away",
            forge="from typing import TYPE_CHECKING\nfrom .container import App\n\nif TYPE_CHECKING:\n"
                  "    app: App\nelse:\n    app = Holder()\n",
            container="from .db import AgentDB\n\nclass App:\n    DATABASE: AgentDB\n",
            db="from sqlalchemy.ext.asyncio import async_sessionmaker\n\n"
               "class ScriptsRepository:\n    def __init__(self, maker):\n        self.Session = maker\n\n"
               "    async def get_block(self, label):\n        async with self.Session() as session:\n"
               "            return await session.scalar(label)\n\n"
               "class AgentDB:\n    def __init__(self, engine):\n"
               "        self.scripts = ScriptsRepository(async_sessionmaker(engine))\n"),
        example("""
from .providers import UsersHandler

async def is_member(users: UsersHandler, email):
    try:
        return await users.get_user(email) is not None
    except Exception:  # error
        return False
""", note="a name re-exported by `from .handlers import *`; an attribute set by the base class's "
            "`__init__`, typed by an abstract class whose implementation (another module) runs the query",
            providers="from .handlers import *\nfrom .pg import *\n",
            handlers="from abc import ABC, abstractmethod\n\nclass ConnectionManager(ABC):\n"
                     "    @abstractmethod\n    async def fetchrow(self, query, *args):\n        ...\n\n"
                     "class Handler(ABC):\n    def __init__(self, manager: ConnectionManager):\n"
                     "        self.manager = manager\n\nclass UsersHandler(Handler):\n"
                     "    async def get_user(self, email):\n"
                     "        return await self.manager.fetchrow('select 1 from users where email = $1', email)\n",
            pg="import asyncpg\nfrom .handlers import ConnectionManager\n\n"
               "class PostgresConnectionManager(ConnectionManager):\n"
               "    def __init__(self, pool: asyncpg.Pool):\n        self.pool = pool\n\n"
               "    async def fetchrow(self, query, *args):\n        async with self.pool.acquire() as conn:\n"
               "            return await conn.fetchrow(query, *args)\n"),
        example("""
from django.db import connections
from django.shortcuts import get_object_or_404
from .models import Plan

def plan_name(org_id):
    try:
        return get_object_or_404(Plan, org=org_id).name
    except Exception:  # error
        return "free"

def replica_count():
    try:
        with connections["replica"].cursor() as cur:
            cur.execute("SELECT count(*) FROM plan")
            return cur.fetchone()[0]
    except Exception:  # error
        return 0
""", note="Django: `get_object_or_404` runs the query; `connection` / `connections[alias]` are the "
            "process's database connections", models="from django.db import models\n\nclass Plan(models.Model):\n    pass\n"),
        example("""
from django.http import JsonResponse
from rest_framework import viewsets
from rest_framework.response import Response
from .models import Doc

def has_live_docs(request):
    try:
        found = Doc.live.filter(owner=request.user.id).exists()
    except Exception:  # error
        return JsonResponse({"found": False})
    return JsonResponse({"found": found})

def titles(owner_id):
    docs = Doc.objects.filter(owner=owner_id)
    try:
        return [d.title for d in docs]
    except Exception:  # error
        return []

def tag_names(doc: Doc):
    try:
        return sorted(t.name for t in doc.tags.all())
    except Exception:  # error
        return []

def archive(doc_id):
    doc = Doc.objects.get(pk=doc_id)
    try:
        doc.save(update_fields=["archived"])
    except Exception:  # error
        return False
    return True

class DocViewSet(viewsets.ModelViewSet):
    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except Exception:  # error
            return Response(status=204)
""", note="Django's ORM: a custom manager, a QuerySet built outside the `try` and evaluated inside it, "
            "a related manager, a model instance's `save()`, a DRF view's inherited `destroy()`",
            models=MODELS_DOCS),
    ]

    def wants(self, data: Swallow) -> bool:
        return data.lie

    def message(self, data: Swallow, verdict: Verdict) -> str | None:
        if not verdict.lie:
            return None
        return f"{data.caught} turns a database failure ({verdict.evidence}) into {data.outcome}: {LIE_ADVICE}"
