"""PW108 skipped-db-work: an ``except`` that drops database work on an outage and carries on (opt-in)."""

from __future__ import annotations

from poolwarden.check.rule import example
from poolwarden.check.swallows import SKIP_ADVICE, Swallow, SwallowRule, Verdict


class SkippedDbWork(SwallowRule):
    CODE = "PW108"
    NAME = "skipped-db-work"
    SEVERITY = "warning"
    DEFAULT = False
    SUMMARY = "An `except` drops database work on a failure and carries on with a log line, `pass` or `continue` (opt-in)."
    WHAT = """
Off by default: turn it on with `--select PW108` / `--extend-select PW108`, or
`extend-select = ["PW108"]` in the configuration (a prefix such as `PW` or `ALL` does not select
it, as ruff's preview rules).

Flags an `except` clause that catches a database outage around code that touches the database
(directly, or through a chain of calls across modules) and carries on without the work: a log
line, `pass`, `continue` (the item is skipped), a fall-through, or a made-up value that nobody
reads — every project caller drops the result, or the function is a Celery task. Nobody is lied
to, which is why this is not [PW101](PW101.md): the claim is weaker. The work is gone, though —
a status that stays stale, a notification never sent, an item a periodic job never retries.

A handler that neither returns nor assigns anything around calls that reach the database two or
more calls deep is taken as a best-effort side step and not flagged, except in a Celery task.

Not flagged: what PW101 does not flag (a re-raise, classification of transient errors, a 5xx, an
answer that says it failed, retry and polling loops, health checks, test modules), and what PW101
reports (a value some caller acts on).
"""
    WHY = """
During an outage every one of these handlers fires at once. A skip that is harmless once
(a row not updated, an e-mail not sent) becomes a silent loss across the whole fleet, and the
only trace is a log line in a flood of them. Where the work matters, let transient errors
propagate so a retry (the task queue, the next request, the next tick) does it again, or record
what was skipped where a job will pick it up.
"""
    EXAMPLE = """
def sync_task_run_status(session, run_id, status):
    try:
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(status=status))
        session.commit()
    except Exception:
        LOG.warning("could not sync task run status", exc_info=True)
"""
    USE_INSTEAD = """
from poolwarden.runtime.errors import raise_if_transient

def sync_task_run_status(session, run_id, status):
    try:
        session.execute(update(TaskRun).where(TaskRun.id == run_id).values(status=status))
        session.commit()
    except Exception as exc:
        raise_if_transient(exc)  # an outage propagates: the caller's retry runs it again
        LOG.warning("could not sync task run status", exc_info=True)
"""

    VALID = [
        example("""
import logging
from sqlalchemy import text

def touch_last_seen(db, user_id):
    try:
        db.execute(text("UPDATE users SET seen = now() WHERE id = :u"), {"u": user_id})
    except Exception as exc:
        if is_transient(exc):
            raise
        logging.exception("last-seen not updated")
""", note="transient errors propagate; only the rest is logged"),
        example("""
import time
from sqlalchemy import text

def wait_for_db(db):
    while True:
        try:
            db.execute(text("SELECT 1"))
            return
        except Exception:
            time.sleep(1)
""", note="a retry loop runs the work again"),
        example("""
from sqlalchemy import select

async def get_sub(db, org_id):
    try:
        return (await db.execute(select(Sub))).scalar_one_or_none()
    except Exception:
        return None
""", note="a value its caller acts on: that is PW101's lie, not a skip"),
        example("""
import logging
from .notify import send_digest

def nightly(user_ids):
    for uid in user_ids:
        try:
            send_digest(uid)
        except Exception:
            logging.exception("digest failed")
""", note="the database is three calls away behind a log-only handler: a best-effort side step",
            notify="from .render import render\n\ndef send_digest(uid):\n    render(uid)\n",
            render="from .store import load\n\ndef render(uid):\n    return load(uid)\n",
            store="from sqlalchemy import text\n\ndef load(uid, session=None):\n"
                  "    return session.execute(text('select 1')).all()\n"),
        example("""
import logging
from sqlalchemy import text

def reconnect(conn, state):
    try:
        conn.execute(text("SELECT 1"))
    except Exception:
        logging.exception("reconnect failed")
    state.reconnecting = False
    raise ConnectionError("connection lost")
""", note="the handler falls through to a `raise`: the failure propagates"),
        example("""
import logging
from sqlalchemy import text

async def stream_answer(db, websocket):
    try:
        rows = (await db.execute(text("select 1"))).all()
        await websocket.send_json({"rows": len(rows)})
    except Exception:
        logging.exception("stream failed")
        await websocket.send_json({"error": "Could not load the answer, try again"})
""", note="the handler sends the failure on (an error frame, an error field): the client is told"),
    ]
    INVALID = [
        example("""
import psycopg2

def mark_paid(conn, invoice_id):
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE invoice SET paid = true WHERE id = %s", (invoice_id,))
        conn.commit()
    except:  # error
        pass
"""),
        example("""
from celery import shared_task
from .services import bill_call

@shared_task
def process_usage(call_ids):
    for call_id in call_ids:
        try:
            bill_call(call_id)
        except Exception:  # error
            continue
""", note="a Celery task, two hops across modules: skipping the item loses the billing",
            services="from .repo import save_usage\n\ndef bill_call(cid):\n    save_usage(cid)\n",
            repo="from sqlalchemy import text\n\ndef save_usage(cid, session=None):\n"
                 "    session.execute(text('insert into usage values (:c)'), {'c': cid})\n"),
        example("""
import logging
from sqlalchemy import text

def touch_last_seen(db, user_id):
    try:
        db.execute(text("UPDATE users SET seen = now() WHERE id = :u"), {"u": user_id})
    except Exception:  # error
        logging.exception("last-seen not updated")
"""),
        example("""
import logging
from sqlalchemy import text

def record_visit(db, uid):
    try:
        db.execute(text("insert into visits values (:u)"), {"u": uid})
        return True
    except Exception:  # error
        logging.exception("visit not recorded")
        return False
""", note="the value is made up, but its only caller (another module) drops it: the visit is lost, "
            "nobody is lied to",
            pages="from .example import record_visit\n\ndef open_page(db, uid, page):\n"
                  "    record_visit(db, uid)\n    return page.render()\n"),
    ]

    def message(self, data: Swallow, verdict: Verdict) -> str | None:
        if verdict.lie:
            return None
        if verdict.why:
            return (f"{data.caught} turns a database failure ({verdict.evidence}) into {data.outcome}, but "
                    f"{verdict.why}: the work is lost, not lied about; {SKIP_ADVICE}")
        return f"{data.caught} skips the work on a database failure ({verdict.evidence}) with {data.outcome}: {SKIP_ADVICE}"
