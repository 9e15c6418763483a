"""check never crashes: hypothesmith-generated programs, and DB-flavoured programs built from parts.

A crash would surface as an exception out of the analyzer; PW000 is an answer, not a crash.
"""

from __future__ import annotations

from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.engine import analyze_source
from poolwarden.check.registry import ALL_RULES
from poolwarden.check.rule import Rule

RULES: list[Rule] = [cls() for cls in ALL_RULES]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


def _analyze(source: str) -> None:
    result = analyze_source(source.encode("utf-8", "surrogatepass"), "fuzz.py", "pkg.fuzz", False, RULES)
    for finding in result.findings:
        assert finding.line >= 1 and finding.col >= 1
        assert finding.code in {r.CODE for r in RULES} | {"PW000"}


@FUZZ
@given(hypothesmith.from_grammar())
def test_grammar_generated_programs(source: str) -> None:
    _analyze(source)


@FUZZ
@given(hypothesmith.from_node())
def test_node_generated_programs(source: str) -> None:
    _analyze(source)


# Programs assembled from the fragments the rules look at, in random order and nesting.
_FRAGMENTS = [
    "conn = pool.getconn()", "pool.putconn(conn)", "return conn", "return None", "raise ValueError()",
    "await db.execute(q)", "session.commit()", "await client.post(url)", "time.sleep(1)",
    "loop = asyncio.new_event_loop()", "loop.close()", "asyncio.run(coro)", "engine = create_engine(url)",
    "_engines[k] = create_async_engine(url)", "psycopg.connect(dsn)", "yield db", "db.close()", "pass",
    "continue", "break", "x = get_conn()", "global engine",
]
_BLOCKS = ["if x:", "for i in range(3):", "while True:", "with engine.begin() as conn:",
           "async with pool.acquire() as conn:", "try:", "else:"]


@st.composite
def _db_programs(draw: st.DrawFn) -> str:
    lines = ["import asyncio, time, psycopg", "from sqlalchemy import create_engine",
             "from sqlalchemy.ext.asyncio import create_async_engine",
             "async def f(db, pool, client, session, engine, url, dsn, q, coro, x, k):"]
    depth = 1
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.booleans()) and depth < 6:
            block = draw(st.sampled_from(_BLOCKS))
            lines.append("    " * depth + block)
            depth += 1
            lines.append("    " * depth + draw(st.sampled_from(_FRAGMENTS)))
            if block == "try:":
                lines.append("    " * (depth - 1) + draw(st.sampled_from(["except Exception:", "finally:"])))
                lines.append("    " * depth + draw(st.sampled_from(_FRAGMENTS)))
        else:
            lines.append("    " * depth + draw(st.sampled_from(_FRAGMENTS)))
        if depth > 1 and draw(st.booleans()):
            depth -= 1
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(_db_programs())
def test_db_flavoured_programs(source: str) -> None:
    _analyze(source)


def test_deep_nesting_is_an_answer_not_a_crash(tmp_path: Path) -> None:
    source = "x = " + "(" * 90 + "1" + ")" * 90 + "\n" + "def f():\n" + "".join(
        "    " * (i + 1) + "if x:\n" for i in range(90)) + "    " * 91 + "pass\n"
    _analyze(source)
