"""PW104 io-in-transaction: external I/O while a transaction or checked-out connection is held."""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from poolwarden.check import held as H
from poolwarden.check import knowledge as K
from poolwarden.check.context import FileContext
from poolwarden.check.finding import Deferred, Pending
from poolwarden.check.rule import Rule, example
from poolwarden.check.scope import Held, Hold, Origin

if TYPE_CHECKING:
    from poolwarden.check.project import ProjectIndex

_ADVICE = ("the connection sits idle in transaction for the whole wait; finish the transaction "
           "first (read, commit, then call) and write back in a fresh, short transaction")
_LOCK_ADVICE = ("the connection sits idle in transaction and every other writer of those rows waits for the whole "
                "wait; finish the transaction first (read, commit, then call) and write back in a fresh, short "
                "transaction")


_VIEW_HELD = "the request's transaction (Django's `ATOMIC_REQUESTS = True` wraps every view)"


def _advice(held: Held | None) -> str:
    """The message's advice: Django's transactions can also run the call after the commit."""
    base = _LOCK_ADVICE if held is not None and held.row_lock is not None else _ADVICE
    on_commit = held.on_commit if held is not None else K.ON_COMMIT_OF_VIEWS
    return base if on_commit is None else f"{base}, or run it after the commit with `{on_commit}`"


# The other modules of the Django signal examples: a signal, a receiver that calls a webhook, a model.
_SIGNAL_MODULES = {
    "signals": "from django.dispatch import Signal\n\norder_paid = Signal()\n",
    "receivers": "import requests\nfrom django.dispatch import receiver\nfrom .signals import order_paid\n\n"
                 "@receiver(order_paid)\ndef tell_partner(sender, order, **kwargs):\n"
                 "    requests.post(\"https://partner.example.com/paid\", json={\"id\": order.id}, timeout=5)\n",
    "models": "from django.db import models\n\nclass Order(models.Model):\n    pass\n",
}

_TASKS = "from celery import shared_task\n\n@shared_task\ndef run_attempt(aid):\n    pass\n"


@dataclass(frozen=True, slots=True)
class IoCallDeferred(Deferred):
    """A project function called while something is held: I/O if it reaches any, at any depth."""

    ref: str | None  # the project function called; None: the call itself is I/O (``io``)
    call: str  # "validate_email()", or the I/O as cited ("HTTP (client.get())")
    held: str  # how the message names what is held
    after: str | None  # the project function the session was last handed to (if it commits: no finding)
    passed: bool = False  # the held session is handed to ``ref``, which may end its transaction first
    view: bool = False  # nothing held here, but a Django view: held if the project sets ATOMIC_REQUESTS
    advice: str = _ADVICE  # what the message advises (see ``_advice``)
    context: str | None = None  # held only if this project context manager holds a transaction
    view_too: bool = False  # ... else, in a Django view: held if the project sets ATOMIC_REQUESTS


class IoInTransaction(Rule):
    CODE = "PW104"
    NAME = "io-in-transaction"
    SUMMARY = "External I/O (HTTP, sleep, subprocess, queue, SMTP, LLM…) while a transaction or connection is held."
    WHAT = """
Flags an awaited or blocking external call — HTTP (httpx, requests, aiohttp, urllib), an AWS
call (boto3), SMTP, an OpenAI-style SDK call, a subprocess, `time.sleep` / `asyncio.sleep`, a
Celery enqueue — made while a transaction or a checked-out connection is held: inside
`engine.begin()`, `session.begin()`, `pool.acquire()`, `pool.connection()`, `conn.transaction()`,
Django's `transaction.atomic()` (as a `with` block or a decorator: then the whole function body),
between `pool.getconn()` and `pool.putconn()`, or on a session
that has run a statement and not yet committed. Calls to project functions that do such I/O,
in any module and at any depth, are flagged at the call. Test modules and in-process test
clients (`httpx.AsyncClient(transport=ASGITransport(app))`) are not flagged, nor is a dedicated
connection opened with a literal `autocommit=True` (it never sits in a transaction), nor the
`if __name__ == "__main__":` block of a module (a script run by hand, no service path).

The transaction ends where the code ends it, also inside a callee: a function handed the session
that commits, rolls back or closes it before its I/O (or hands it last to one that does) does that
I/O with nothing held; a session handed to a function that ends its transaction on every way out
that returns a result (a `return None`, `[]` or `success=False` says nothing was done) is free
after the call; leaving `with session.begin():` commits or rolls back, and `with closing(session):`
closes it. A rollback in an `except` handler ends only that path: after the `try`, what the body
left open is still open. Work handed to Django's `transaction.on_commit(...)` runs after the commit,
and Celery's `delay_on_commit` enqueues then: neither is flagged. Django's `send_mail`,
`mail_admins` and `EmailMessage.send()` are SMTP. When a settings module of the project sets
`ATOMIC_REQUESTS = True` in `DATABASES`, every Django / DRF view (a function of a module importing
the framework whose first parameter, after `self`, is `request`) runs in the request's
transaction, and its I/O is flagged, unless the view is `@transaction.non_atomic_requests`.
A Django signal's `send()` / `send_robust()` runs its receivers (`@receiver(signal)`,
`signal.connect(func)`, in any module) synchronously, in the sender's transaction: their I/O is
flagged at the `send()`. Rows locked by `select_for_update()` stay locked until the transaction
ends, and the message says so; for Django's transactions it advises `transaction.on_commit(...)`.
A project context manager whose `yield` runs inside a transaction (`@contextmanager` around
`transaction.atomic()`, also through another such helper) holds it for its `with` block and for
the function it decorates (`@traced_atomic()`).
"""
    WHY = """
While the code waits on the network, the connection does nothing but stays checked out and
"idle in transaction": it holds its locks, its PgBouncer slot and its place in
`max_connections`. Monitors that count active queries do not see it. In the seed incident, an
enricher awaited an email-validation API 200 times inside `db.begin()`; twelve such daemons
exhausted the PgBouncer pool and the whole backend answered 502.
"""
    EXAMPLE = """
async def enrich_batch():
    async with db.begin() as conn:
        rows = await conn.execute(select_unverified)
        for row in rows:
            result = await validate_email(row.email)  # HTTP, 200-1200 ms
            await conn.execute(update_row, {"v": result, "id": row.id})
"""
    USE_INSTEAD = """
async def enrich_batch():
    async with db.begin() as conn:
        rows = (await conn.execute(select_unverified)).fetchall()
    results = [(row.id, await validate_email(row.email)) for row in rows]
    async with db.begin() as conn:
        for rid, r in results:
            await conn.execute(update_row, {"v": r, "id": rid})
"""
    DEFERRED = IoCallDeferred
    NODES = (ast.Call,)

    VALID = [
        example("""
import time
import psycopg

def wait_for_jobs(dsn):
    # a dedicated autocommit connection: every statement commits, nothing sits in a transaction
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        while conn.execute("SELECT count(*) FROM jobs WHERE NOT done").fetchone()[0]:
            time.sleep(1)

def wait_for_jobs_again(dsn):
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    try:
        while conn.execute("SELECT count(*) FROM jobs WHERE NOT done").fetchone()[0]:
            time.sleep(1)
    finally:
        conn.close()
"""),
        example("""
import httpx
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=5, max_overflow=0, pool_timeout=5)

async def enrich():
    async with engine.begin() as conn:
        rows = (await conn.execute(q)).fetchall()
    async with httpx.AsyncClient() as client:
        results = [await client.post("https://api/validate", json=r.email) for r in rows]
    async with engine.begin() as conn:
        await conn.execute(update, results)
"""),
        example("""
import requests
from sqlalchemy.orm import Session

def sync_user(session: Session, user_id):
    user = session.get(User, user_id)
    session.commit()
    profile = requests.get(f"https://api/users/{user_id}", timeout=5)
    return user, profile
""", note="near miss: the session committed before the HTTP call"),
        example("""
import asyncio
import asyncpg

async def poll(pool):
    while True:
        async with pool.acquire() as conn:
            await conn.fetch("SELECT 1")
        await asyncio.sleep(5)
"""),
        example("""
import asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

async def work(engine: AsyncEngine):
    async with engine.begin() as conn:
        await conn.execute(q)
        await asyncio.sleep(0)
""", note="near miss: sleep(0) only yields to the loop"),
        example("""
from .notify import format_message
from sqlalchemy.ext.asyncio import AsyncEngine

async def run(engine: AsyncEngine):
    async with engine.begin() as conn:
        await conn.execute(q)
        msg = format_message("done")
""", notify="def format_message(m):\n    return m.upper()\n"),
        example("""
from sqlalchemy.orm import Session
from .attempts import create_and_enqueue

def schedule(session: Session, pair_id):
    pair = session.get(Pair, pair_id)
    create_and_enqueue(session, pair.id)
""", note="cross-module near miss: the callee commits the session it was handed before it enqueues",
            attempts="""from sqlalchemy.orm import Session
from .tasks import run_attempt

def create_and_enqueue(session: Session, pair_id):
    session.add(Attempt(pair_id=pair_id))
    session.commit()
    run_attempt.delay(pair_id)
""", tasks=_TASKS),
        example("""
from sqlalchemy.orm import Session
from .attempts import try_create_attempt
from .tasks import run_attempt

def schedule(session: Session, pair_id):
    pair = session.get(Pair, pair_id)
    attempt_id = try_create_attempt(session, pair.id)
    if attempt_id is None:
        return
    run_attempt.delay(attempt_id)
""", note="cross-module near miss: the callee commits on every way out that returns a result; "
          "its `return None` says nothing was done, and the caller stops there",
            attempts="""from sqlalchemy.orm import Session

def try_create_attempt(session: Session, pair_id):
    if session.scalar(running_attempt(pair_id)) is not None:
        return None
    attempt = Attempt(pair_id=pair_id)
    session.add(attempt)
    session.commit()
    return attempt.id
""", tasks=_TASKS),
        example("""
import time
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

def lock_rows(session: Session, ids):
    session.commit()
    for _ in range(5):
        try:
            with session.begin():
                session.execute(lock_query(ids))
                return True
        except OperationalError:
            pass
        time.sleep(0.5)
    return False
""", note="near miss: leaving `with session.begin()` commits or rolls back; the retry sleeps with nothing open"),
        example("""
from contextlib import closing
import httpx
from sqlalchemy.orm import Session

def proxy(session: Session, request):
    with closing(session):
        model = session.scalar(model_query(request.model))
    return httpx.post(model.url, json=request.body, timeout=30)
""", note="near miss: `with closing(session)` closes the session before the upstream call"),
        example("""
import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

if __name__ == "__main__":
    engine = create_engine("postgresql://localhost/dev?connect_timeout=5", pool_size=1, max_overflow=0,
                           pool_timeout=5)
    with Session(engine) as session:
        user = session.query(User).first()
        requests.post("https://idp/refresh", data=user.refresh_token, timeout=5)
""", note="near miss: a module's `__main__` block is a script a developer runs by hand"),
        example("""
from sqlalchemy.orm import Session
from .db import session_or_new
from .tools import build_tools

def construct_tools(user, db_session: Session | None = None):
    with session_or_new(db_session) as db_session:
        return build_tools(user, db_session)
""", note="cross-module near miss: the helper hands out the session it is given and runs nothing on "
          "it; the transaction is opened (and reported) inside build_tools",
            db="""from contextlib import contextmanager
from sqlalchemy.orm import Session

@contextmanager
def session_or_new(session):
    if session is None:
        with Session(bind=ENGINE) as session:
            yield session
    else:
        yield session
""", tools="""import requests
from sqlalchemy.orm import Session

def build_tools(user, db_session: Session):
    token = db_session.get(Token, user.id)
    requests.post("https://idp/refresh", data=token.refresh, timeout=5)  # the callee's own finding
    return [token]
"""),
        example("""
from django.core.mail import send_mail
from django.db import transaction
from .models import Order
from .tasks import notify

def ship(order_id):
    with transaction.atomic():
        order = Order.objects.get(pk=order_id)
        order.save()
        transaction.on_commit(lambda: send_mail("Shipped", "On its way", "shop@example.com", [order.email]))
        transaction.on_commit(lambda: notify.delay(order.id))
        notify.delay_on_commit(order.id)
""", note="Django's fix: work given to `transaction.on_commit` (or Celery's `delay_on_commit`) runs after the commit",
            models="from django.db import models\n\nclass Order(models.Model):\n    pass\n", tasks="from celery import shared_task\n\n@shared_task\ndef notify(order_id):\n    return order_id\n"),
        example("""
from django.core.mail import EmailMessage
from django.db import transaction
from .models import Order

def ship(order_id):
    with transaction.atomic():
        order = Order.objects.get(pk=order_id)
        order.save()
        message = EmailMessage("Shipped", "On its way", "shop@example.com", [order.email])
    message.send()
""", note="building a Django `EmailMessage` is in memory; it is sent after the block", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
import requests
from django.db import transaction
from django.http import JsonResponse
from .models import Order

@transaction.non_atomic_requests
def pay(request, order_id):
    order = Order.objects.get(pk=order_id)
    requests.post("https://psp.example.com/charge", json={"id": order.id}, timeout=10)
    return JsonResponse({"ok": True})
""", note="`ATOMIC_REQUESTS` is on, but this view opts out with `@transaction.non_atomic_requests`",
            settings="DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \"ATOMIC_REQUESTS\": True,\n        \"OPTIONS\": {\"connect_timeout\": 5},\n    },\n}\n", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
from django.db import transaction
from .models import Order
from .signals import order_paid

def pay(order_id):
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        order.paid = True
        order.save()
    order_paid.send(sender=Order, order=order)
""", note="the signal is sent after the transaction committed: its receivers' I/O holds nothing",
            **_SIGNAL_MODULES),
        example("""
import requests
from django.db import transaction
from .timing import timed
from .mutations import BaseMutation

def sync_catalog():
    with timed("catalog"):
        requests.get("https://catalog.example.com/items", timeout=10)

class CreatePromotion(BaseMutation):
    @classmethod
    def perform(cls, instance):
        with transaction.atomic():
            cls.save(instance)
""", note="a project context manager that opens no transaction holds none; `cls.save` is the base class's own "
            "method (it saves the instance), not the I/O of an unrelated subclass's override: only a method that "
            "merely declares itself (`pass`, `raise NotImplementedError`) stands for its overrides",
            timing="import time\nfrom contextlib import contextmanager\n\n@contextmanager\ndef timed(name):\n"
                   "    start = time.monotonic()\n    yield\n    print(name, time.monotonic() - start)\n",
            mutations="from .tasks import rename_variants\n\nclass BaseMutation:\n    @classmethod\n"
                      "    def save(cls, instance):\n        instance.save()\n\n"
                      "class UpdateProductType(BaseMutation):\n    @classmethod\n    def save(cls, instance):\n"
                      "        instance.save()\n        rename_variants.delay(instance.pk)\n",
            tasks="from celery import shared_task\n\n@shared_task\ndef rename_variants(pk):\n    pass\n"),
    ]
    INVALID = [
        example("""
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

async def enrich(engine: AsyncEngine):
    async with engine.begin() as conn:
        rows = await conn.execute(q)
        async with httpx.AsyncClient() as client:
            for row in rows:
                r = await client.post("https://api/validate", json=row.email)  # error
                await conn.execute(update, {"v": r.json()})
"""),
        example("""
from .validation import validate_email
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_size=5, max_overflow=0, pool_timeout=5)

async def enrich_batch():
    async with engine.begin() as conn:
        rows = await conn.execute(q)
        for row in rows:
            result = await validate_email(row.email)  # error
            await conn.execute(update, {"v": result})
""", note="cross-module: the HTTP call lives in another module",
            validation="import httpx\n\nasync def validate_email(email):\n    async with httpx.AsyncClient() as c:\n        return (await c.get('https://v/' + email)).json()\n"),
        example("""
import time
import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 5, "dbname=app connect_timeout=5")

def refresh():
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE leaderboard SET stale = true")
            time.sleep(30)  # error
        conn.commit()
    finally:
        pool.putconn(conn)
"""),
        example("""
import requests
from sqlalchemy.orm import Session

def sync_user(session: Session, user_id):
    user = session.get(User, user_id)
    profile = requests.get(f"https://api/users/{user_id}", timeout=5)  # error
    user.name = profile.json()["name"]
    session.commit()
"""),
        example("""
from django.db import transaction
from .tasks import send_receipt

def pay(order):
    with transaction.atomic():
        order.paid = True
        order.save()
        send_receipt.delay(order.id)  # error
""", tasks="from celery import shared_task\n\n@shared_task\ndef send_receipt(oid):\n    pass\n"),
        example("""
import requests
from sqlalchemy.orm import Session

def refresh_token(session: Session, account):
    try:
        provider = session.scalar(provider_query(account))
    except Exception:
        session.rollback()
        return None
    return requests.post(provider.token_url, timeout=5)  # error
""", note="the rollback in the handler ends only the failed path; on success the read is still open"),
        example("""
import requests
from sqlalchemy.orm import Session
from .users import get_or_create_service_user

def answer(session: Session, question):
    user = get_or_create_service_user(session)
    reply = requests.post("https://llm/answer", json=question, timeout=60)  # error
    return user, reply
""", note="cross-module: the callee commits only when it creates the user; its usual way out returns "
          "the user it read, with the transaction open",
            users="""from sqlalchemy.orm import Session

def get_or_create_service_user(session: Session):
    user = session.scalar(service_user_query())
    if user is not None:
        return user
    user = User(service=True)
    session.add(user)
    session.commit()
    return user
"""),
        example("""
from sqlalchemy.orm import Session
from .attempts import create_and_enqueue

def schedule(session: Session, pair_id):
    pair = session.get(Pair, pair_id)
    create_and_enqueue(session, pair.id)  # error
""", note="cross-module: the callee commits, then reads again before it enqueues: a new transaction is open",
            attempts="""from sqlalchemy.orm import Session
from .tasks import run_attempt

def create_and_enqueue(session: Session, pair_id):
    attempt = Attempt(pair_id=pair_id)
    session.add(attempt)
    session.commit()
    session.refresh(attempt)
    run_attempt.delay(attempt.id)
""", tasks=_TASKS),
        example("""
import requests
from django.db import transaction
from .models import Order

@transaction.atomic
def pay(order_id):
    order = Order.objects.select_for_update().get(pk=order_id)
    requests.post("https://psp.example.com/charge", json={"id": order.id}, timeout=10)  # error
    order.save()
""", note="`@transaction.atomic` as a decorator: the whole function body is the transaction (here with the row "
            "locked by `select_for_update`)", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
from django.core.mail import send_mail
from django.db import transaction
from .models import Order

def ship(order_id):
    with transaction.atomic():
        order = Order.objects.get(pk=order_id)
        order.save()
        send_mail("Shipped", "On its way", "shop@example.com", [order.email])  # error
""", note="Django's `send_mail` talks to the SMTP server", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
from django.core.mail import EmailMessage
from django.db import transaction
from .models import Order

@transaction.atomic
def ship(order_id):
    order = Order.objects.get(pk=order_id)
    order.save()
    EmailMessage("Shipped", "On its way", "shop@example.com", [order.email]).send()  # error
""", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
import requests
from django.http import JsonResponse
from .models import Order

def pay(request, order_id):
    order = Order.objects.get(pk=order_id)
    requests.post("https://psp.example.com/charge", json={"id": order.id}, timeout=10)  # error
    return JsonResponse({"ok": True})

class Refund:
    def post(self, request, order_id):
        requests.post("https://psp.example.com/refund", json={"id": order_id}, timeout=10)  # error
        return JsonResponse({"ok": True})
""", note="the settings module (another module) sets `ATOMIC_REQUESTS`: every view runs in the request's "
            "transaction; without it, the same views are not flagged", settings="DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \"ATOMIC_REQUESTS\": True,\n        \"OPTIONS\": {\"connect_timeout\": 5},\n    },\n}\n", models="from django.db import models\n\nclass Order(models.Model):\n    pass\n"),
        example("""
import httpx
import requests
from django.db import transaction
from .models import Order
from .signals import order_paid

ledger = httpx.Client()

def pay(order_id):
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        order.paid = True
        order.save()
        order_paid.send(sender=Order, order=order)  # error
        requests.post("https://ledger.example.com/entries", json={"id": order.id}, timeout=10)  # error
        ledger.send(httpx.Request("POST", "https://ledger.example.com/audit"))  # error
""", note="a Django signal's `send()` runs its receivers (here one in another module that calls a webhook) "
            "synchronously, inside the sender's transaction; rows locked by `select_for_update()` stay locked "
            "for the whole wait",
            **_SIGNAL_MODULES),
        example("""
import requests
from .tracing import traced_atomic
from .tasks import recalculate

def delete_product(product_id):
    with traced_atomic():
        recalculate.delay(product_id)  # error

@traced_atomic()
def refund(payment_id):
    requests.post("https://psp.example.com/refunds", json={"id": payment_id}, timeout=10)  # error
""", note="a project `@contextmanager` whose `yield` runs inside `transaction.atomic()` (under a tracing span of "
            "another project module) holds the transaction for the `with` block, and for the function it decorates",
            tracing="from contextlib import contextmanager\nfrom django.db import transaction\nfrom .telemetry import tracer\n\n"
                    "@contextmanager\ndef traced_atomic():\n    with transaction.atomic():\n"
                    "        with tracer.span(\"transaction\"):\n            yield\n",
            telemetry="from opentelemetry import trace\n\ntracer = trace.get_tracer(__name__)\n",
            tasks="from celery import shared_task\n\n@shared_task\ndef recalculate(product_id):\n    pass\n"),
    ]

    def visit(self, node: ast.AST, ctx: FileContext) -> None:
        assert isinstance(node, ast.Call)
        held = ctx.holding()
        if ctx.is_test or ctx.main_guard:
            return  # a module run as a script by hand holds no pool others wait on
        if held is None:
            self._in_view(node, ctx)
            return
        if held.maybe is not None:
            held = ctx.holding(definite=True) or held
        info = ctx.call(node)
        advice = _advice(held)
        context = held.maybe
        if context is not None and (info.io is not None or (info.ref is not None and not info.db)):
            ctx.defer(node, IoCallDeferred(info.ref if info.io is None else None,
                                           f"{info.text}()" if info.io is None else info.io.describe(),
                                           _held(held), held.last_call, advice=advice, context=context,
                                           view_too=ctx.in_view()))
            return
        if info.io is not None:
            if held.last_call is None:
                ctx.report(node, f"{info.io.describe()} while {_held(held)} is held: {advice}")
            else:
                ctx.defer(node, IoCallDeferred(None, info.io.describe(), _held(held), held.last_call, advice=advice))
        elif info.ref is not None and not info.db:
            ctx.defer(node, IoCallDeferred(info.ref, f"{info.text}()", _held(held), held.last_call,
                                           H.passes(node, held.var), advice=advice))

    def _in_view(self, node: ast.Call, ctx: FileContext) -> None:
        """I/O in a Django view with nothing held here: under ``ATOMIC_REQUESTS`` (a project setting,
        decided with the index) the view runs in the request's transaction."""
        info = ctx.call(node)
        if (info.io is None and (info.ref is None or info.db)) or not ctx.in_view():
            return
        advice = _advice(None)
        if info.io is not None:
            ctx.defer(node, IoCallDeferred(None, info.io.describe(), _VIEW_HELD, None, view=True, advice=advice))
        else:
            ctx.defer(node, IoCallDeferred(info.ref, f"{info.text}()", _VIEW_HELD, None, view=True, advice=advice))

    def resolve(self, pending: Pending, index: ProjectIndex) -> str | None:
        data = pending.data
        assert isinstance(data, IoCallDeferred)
        if data.view and not index.atomic_requests:
            return None
        if data.context is not None and not index.tx_context(data.context):
            if not (data.view_too and index.atomic_requests):
                return None  # the project context manager around it holds no transaction
            data = replace(data, held=_VIEW_HELD, advice=_advice(None), after=None)
        if data.after is not None and index.ends_transaction(data.after):
            return None  # the function the session was handed to committed: nothing is held now
        if data.ref is None:
            return f"{data.call} while {data.held} is held: {data.advice}"
        reach = index.reaches_io_held(data.ref) if data.passed else index.reaches_io(data.ref)
        if reach is None:
            return None
        return f"`{data.call}` does external I/O ({reach.describe()}) while {data.held} is held: {data.advice}"


def _held(held: Held) -> str:
    """How the message names what is held: "the transaction of `engine.begin()` (line 28)", and the
    rows it locked."""
    what = _holder(held)
    return what if held.row_lock is None else f"{what}, with the rows locked by `{held.row_lock}`,"


def _holder(held: Held) -> str:
    if held.origin in (Origin.PARAMETER, Origin.ATTRIBUTE):
        return f"the session `{held.var}`"
    if held.origin is Origin.WITH_NAME:
        return f"the transaction of `with {held.callee}` (line {held.line})"
    if held.origin is Origin.DECORATOR:
        return f"the transaction of `@{held.callee}` (line {held.line})"
    if held.origin is Origin.ASSIGNED:
        if held.hold is Hold.SESSION:
            return f"the session `{held.var}` (line {held.line})"
        return f"the connection from {held.callee}() (line {held.line})"
    return f"the {held.hold.value} of `{held.callee}()` (line {held.line})"
