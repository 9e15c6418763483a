"""Test code is not checked by the rules about production behaviour (all of PW101-PW108).

A module is test code by its name (``test_*.py``, ``*_test.py``, ``conftest.py``) or by its dotted
module name (a package named ``tests`` / ``test`` under the checked root): the same source in an
application package is reported by every rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_check, write_tree

# One function per rule's shape: a swallow (PW101), a loop per call in a Celery task (PW102), a default
# pool (PW103), HTTP in a transaction (PW104), a connect with no finally and no timeout (PW105, PW106),
# an engine per call (PW107), a skipped write (PW108).
SOURCE = '''
import asyncio
import logging
import psycopg2
import requests
from celery import shared_task
from sqlalchemy import create_engine, text


def lookup(db):
    try:
        return db.execute(text("select 1")).scalar()
    except Exception:
        return None


@shared_task
def task():
    asyncio.run(work())


ENGINE = create_engine("postgresql://x/y")


def notify(session):
    with session.begin():
        session.execute(text("update t set x = 1"))
        requests.post("https://example.com", timeout=5)


def wipe():
    conn = psycopg2.connect("dbname=x")
    conn.cursor().execute("truncate t")
    conn.close()


def per_call(url):
    return create_engine(url, pool_size=1, max_overflow=0, pool_timeout=1).connect()


def touch(db):
    try:
        db.execute(text("update t set seen = now()"))
    except Exception:
        logging.exception("not touched")
'''
CODES = {"PW101", "PW102", "PW103", "PW104", "PW105", "PW106", "PW107", "PW108"}


def _codes(tmp_path: Path, rel: str) -> set[str]:
    write_tree(tmp_path, {rel: SOURCE})
    return {f.code for f in run_check([tmp_path], extend_select=["PW108"]) if f.path.endswith(rel.rpartition("/")[2])}


def test_application_code_is_reported_by_every_rule(tmp_path: Path) -> None:
    assert _codes(tmp_path, "app/helpers.py") == CODES


@pytest.mark.parametrize("rel", ["tests/helpers.py", "app/tests/integration/reset.py", "app/test_reset.py",
                                 "app/conftest.py"])
def test_test_code_is_not_checked(tmp_path: Path, rel: str) -> None:
    assert _codes(tmp_path, rel) == set()
