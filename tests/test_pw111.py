"""PW111 session-state-behind-pooler: the SQL it reads, the pooler facts it weighs, per root."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolwarden.check.config import load_config
from poolwarden.check.engine import check_paths
from poolwarden.check.pgbouncer_ini import pool_mode
from poolwarden.check.session_state import session_state
from poolwarden.check.sql import tokens

from .conftest import run_check, write_tree

BROKEN = [
    ("SET statement_timeout = 5000", "`SET statement_timeout`"),
    ("set search_path to app, public", "`SET search_path`"),
    ("SET SESSION statement_timeout TO '5s'", "`SET statement_timeout`"),
    ("SET ROLE app_reader", "`SET role`"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", "`SET SESSION CHARACTERISTICS`"),
    ("SELECT set_config('app.tenant', %s, false)", "`set_config('app.tenant', …, false)`"),
    ("select set_config('a.b', 'c', 'off')", "`set_config('a.b', …, false)`"),
    ("SELECT pg_advisory_lock(42)", "a session advisory lock (`pg_advisory_lock()`)"),
    ("SELECT pg_try_advisory_lock_shared(1, 2)", "a session advisory lock (`pg_try_advisory_lock_shared()`)"),
    ("SELECT pg_catalog.pg_try_advisory_lock(hashtext(:k))", "a session advisory lock (`pg_try_advisory_lock()`)"),
    ("LISTEN jobs", "`LISTEN jobs`"),
    ('LISTEN "Jobs"', "`LISTEN Jobs`"),
    ("PREPARE q (int) AS SELECT $1", "`PREPARE q`"),
    ("CREATE TEMP TABLE t (a int)", "a temporary table (`CREATE TEMP TABLE`)"),
    ("create global temporary table t as select 1", "a temporary table (`CREATE TEMP TABLE`)"),
    ("CREATE TEMP TABLE t (a int) ON COMMIT DELETE ROWS", "a temporary table (`CREATE TEMP TABLE`)"),
    ("CREATE TEMPORARY VIEW v AS SELECT 1", "a temporary view (`CREATE TEMP VIEW`)"),
    ("SELECT * INTO TEMP t FROM events", "a temporary table (`SELECT ... INTO TEMP`)"),
    ("DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT 1", "a `WITH HOLD` cursor (`DECLARE c`)"),
    ("BEGIN; SET app.tenant = 'acme'; COMMIT", "`SET app.tenant`"),
]
FINE = [
    "SET LOCAL statement_timeout = 5000",
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "SET CONSTRAINTS ALL DEFERRED",
    "SELECT set_config('app.tenant', %s, true)",
    "SELECT set_config('app.tenant', %s, %s)",
    "SELECT pg_advisory_xact_lock(42)",
    "SELECT pg_try_advisory_xact_lock_shared(42)",
    "SELECT pg_advisory_unlock(42)",
    "UNLISTEN *",
    "NOTIFY jobs, 'x'",
    "PREPARE TRANSACTION 'tx1'",
    "DEALLOCATE ALL",
    "DEALLOCATE PREPARE q",
    "CREATE TEMP TABLE t (a int) ON COMMIT DROP",
    "CREATE TABLE temp (a int)",
    "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1",
    "DECLARE c CURSOR FOR SELECT 1",
    "SELECT 'SET x = 1', 'LISTEN y'",
    "-- SET x = 1\nSELECT 1",
    "/* LISTEN a /* nested */ PREPARE b */ SELECT 1",
    "DO $$ BEGIN PERFORM pg_advisory_lock(1); SET x = 1; END $$",
    "CREATE FUNCTION f() RETURNS void AS $body$ LISTEN x $body$ LANGUAGE sql",
    'SELECT "pg_advisory_lock"',
    "SELECT my_pg_advisory_lock_wrapper(1)",
    "UPDATE settings SET value = 1",
    "INSERT INTO t SELECT * FROM temp",
]


@pytest.mark.parametrize(("sql", "what"), BROKEN)
def test_broken_statements(sql: str, what: str) -> None:
    assert [s.what for s in session_state(sql)] == [what]


@pytest.mark.parametrize("sql", FINE)
def test_fine_statements(sql: str) -> None:
    assert session_state(sql) == []


# -- generated: any case, any spacing and comments between tokens; hazards inside quotes never count --------
HAZARDS = [sql for sql, _ in BROKEN if ";" not in sql]
SAFE = [sql for sql in FINE if "$" not in sql and "--" not in sql and "/*" not in sql and "'" not in sql]
GAP = st.sampled_from([" ", "  ", "\n", "\t", " /* c */ ", " -- c\n", "\n\n  ", " /* a /* b */ c */ "])


def _respell(sql: str, data: st.DataObject) -> str:
    """``sql`` with each word in a random case and each space replaced by a random gap (outside quotes)."""
    out: list[str] = []
    for part in sql.split(" "):
        word = part if "'" in part or '"' in part else "".join(
            c.upper() if data.draw(st.booleans()) else c.lower() for c in part)
        out.append(word)
    return "".join(w + (data.draw(GAP) if i < len(out) - 1 else "") for i, w in enumerate(out))


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(HAZARDS), st.data())
def test_respelled_hazards_are_found(sql: str, data: st.DataObject) -> None:
    assert len(session_state(_respell(sql, data))) == 1


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(SAFE), st.data())
def test_respelled_safe_statements_stay_fine(sql: str, data: st.DataObject) -> None:
    assert session_state(_respell(sql, data)) == []


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(HAZARDS), st.sampled_from(["'{}'", "E'{}'", "$${}$$", "$q${}$q$", "/* {} */", "-- {}\n"]))
def test_hazards_inside_quotes_or_comments_do_not_count(sql: str, wrapper: str) -> None:
    body = sql.replace("'", "''") if wrapper.startswith(("'", "E'")) else sql.replace("*/", "")
    assert session_state("SELECT " + wrapper.format(body) + " AS x") == []


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200))
def test_any_text_tokenizes(text: str) -> None:
    tokens(text)  # never raises, always ends
    session_state(text)


# -- the rule on code: where SQL is read, when the project is behind a pooler ---------------------------
POOLER = ("from poolwarden.runtime.engine import create_engine\n\n"
          "engine = create_engine('postgresql://h/app', pgbouncer=True)\n")
CODE = textwrap.dedent("""\
    import asyncpg
    import psycopg
    from sqlalchemy import text

    LOCK = "SELECT pg_advisory_lock(1)"


    def jobs(conn: psycopg.Connection, session, schema: str) -> None:
        conn.execute(LOCK)
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("SELECT 1 " + "; LISTEN jobs")
        conn.execute("SET lock_timeout = '{}'".format(5))
        session.execute(text("SET LOCAL lock_timeout = '1s'"))
        conn.execute("SELECT 1", prepare=True)


    async def pool(dsn: str) -> asyncpg.Pool:
        return await asyncpg.create_pool(dsn, max_size=5, timeout=5)
    """)


def _project(tmp_path: Path, extra: dict[str, str] | None = None, config: str = "") -> list[tuple[int, str]]:
    write_tree(tmp_path, {"app/jobs.py": CODE, **(extra or {})})
    if config:
        (tmp_path / "poolwarden.toml").write_text(config)
    cfg = load_config(tmp_path / "poolwarden.toml" if config else None)
    found = check_paths([str(tmp_path / "app")], cfg, use_cache=False, jobs=1).findings
    return sorted((f.line, f.message) for f in found if f.code == "PW111")


def test_silent_without_a_pooler_fact(tmp_path: Path) -> None:
    assert _project(tmp_path) == []


def test_pgbouncer_true_engine_is_the_fact(tmp_path: Path) -> None:
    found = _project(tmp_path, {"app/db.py": POOLER})
    assert [line for line, _ in found] == [9, 10, 11, 12, 14, 18]
    assert all("(`create_engine(pgbouncer=True)` at " in m and "app/db.py:3)" in m for _, m in found)


def test_django_setting_is_the_fact_per_root(tmp_path: Path) -> None:
    for service, extra in (("svc1", {"app/settings.py": "DISABLE_SERVER_SIDE_CURSORS = True\n"}), ("svc2", {})):
        for rel, src in {"app/__init__.py": "", "app/jobs.py": CODE, **extra}.items():
            (tmp_path / service / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / service / rel).write_text(src)
    found = run_check([tmp_path / "svc1", tmp_path / "svc2"])
    lines = sorted((Path(f.path).parts[-3], f.line) for f in found if f.code == "PW111")
    assert lines == [("svc1", n) for n in (9, 10, 11, 12, 14, 18)]  # svc2 is its own root: no pooler there
    assert all("svc1/app/settings.py:1)" in f.message for f in found if f.code == "PW111")


def test_config_says_transaction(tmp_path: Path) -> None:
    found = _project(tmp_path, config='[check]\npgbouncer = "transaction"\n')
    assert [line for line, _ in found] == [9, 10, 11, 12, 14, 18]
    assert "(pgbouncer = 'transaction' in " in found[0][1]


def test_config_says_session_whatever_the_code(tmp_path: Path) -> None:
    assert _project(tmp_path, {"app/db.py": POOLER}, config='[check]\npgbouncer = "session"\n') == []


def test_pgbouncer_ini_decides_and_is_cited(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "pgbouncer.ini").write_text(
        "[databases]\napp = host=db dbname=app\n\n[pgbouncer]\nlisten_port = 6432\npool_mode = transaction\n")
    found = _project(tmp_path, config='[check]\npgbouncer-ini = "deploy/pgbouncer.ini"\n')
    assert [line for line, _ in found] == [9, 10, 11, 12, 14, 18]
    assert "deploy/pgbouncer.ini:6)" in found[0][1]


def test_max_prepared_statements_keeps_protocol_prepares(tmp_path: Path) -> None:
    (tmp_path / "pgbouncer.ini").write_text("[pgbouncer]\npool_mode = transaction\nmax_prepared_statements = 100\n")
    found = _project(tmp_path, config='[check]\npgbouncer-ini = "pgbouncer.ini"\n')
    assert [line for line, _ in found] == [9, 10, 11, 12]  # prepare=True and asyncpg's cache: fine on 1.21+


def test_pgbouncer_ini_modes(tmp_path: Path) -> None:
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text("[pgbouncer]\nlisten_port = 6432\n")
    assert pool_mode(ini).mode == "session"
    ini.write_text("[databases]\napp = host=db pool_mode=transaction\n[pgbouncer]\npool_mode = session\n")
    assert (pool_mode(ini).mode, pool_mode(ini, "x.ini").where) == ("transaction", "x.ini:2")
    ini.write_text("[pgbouncer]\n# pool_mode = transaction\npool_mode=statement\n")
    assert (pool_mode(ini).mode, pool_mode(ini, "x.ini").where) == ("statement", "x.ini:3")


def test_test_modules_are_not_checked(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/db.py": POOLER, "app/tests/test_jobs.py": CODE})
    assert [f for f in run_check([tmp_path / "app"]) if f.code == "PW111"] == []


def test_warm_run_sees_the_ini_change(tmp_path: Path) -> None:
    from .conftest import cli

    write_tree(tmp_path, {"app/jobs.py": CODE})
    (tmp_path / "pgbouncer.ini").write_text("[pgbouncer]\npool_mode = transaction\n")
    (tmp_path / "poolwarden.toml").write_text('[check]\npgbouncer-ini = "pgbouncer.ini"\n')
    past = time.time() - 60  # older than the warm path's racy window: the first run leaves its memo
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.utime(path, (past, past))
    first = cli("check", "app", "--select", "PW111", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert (tmp_path / ".poolwarden_cache" / "last-run.json").is_file()
    (tmp_path / "pgbouncer.ini").write_text("[pgbouncer]\npool_mode = session\n\n")
    os.utime(tmp_path / "pgbouncer.ini", (past + 1, past + 1))
    second = cli("check", "app", "--select", "PW111", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr


def test_an_inline_comment_is_refused_as_pgbouncer_does(tmp_path: Path) -> None:
    """PgBouncer 1.18 refuses ``pool_mode = transaction ; per tx`` ("invalid value ... for parameter
    pool_mode"; tried on the Debian build): the one reader check and budget share refuses it too."""
    from poolwarden.errors import UsageError
    from poolwarden.pgbouncer_ini import read_file

    ini = tmp_path / "pgbouncer.ini"
    ini.write_text("[pgbouncer]\npool_mode = transaction ; per tx\n")
    with pytest.raises(UsageError, match="pool_mode = 'transaction ; per tx' is not a pool_mode"):
        read_file(ini)
