"""Adversarial input for PW111's pooler facts: ``pgbouncer`` / ``pgbouncer-ini`` in the check config, and
the pgbouncer.ini files they point at.

The contract: a value or file poolwarden cannot use is exit 2 with one ``poolwarden: error:`` line naming
the config file and the key, never a traceback; any file that is a pgbouncer.ini (it has a ``[pgbouncer]``
section) is accepted whatever else it holds, and the run goes on. Generated inputs are counted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.config import ConfigError, load_config

from .contract import assert_clean_failure, invoke, run, thrown

COUNTS = thrown("check (PW111 pooler config)")
FAST = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
CODE = "import psycopg\n\n\ndef f(conn: psycopg.Connection) -> None:\n    conn.execute('SET statement_timeout = 5')\n"


def _tree(tmp_path: Path, config: str) -> Path:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "jobs.py").write_text(CODE)
    (tmp_path / "poolwarden.toml").write_text(config, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("config", "needle"), [
    ('[check]\npgbouncer = "transactions"\n', "'pgbouncer' must be one of 'session', 'transaction', 'statement'"),
    ("[check]\npgbouncer = true\n", "'pgbouncer' must be a non-empty string"),
    ('[check]\npgbouncer = ""\n', "'pgbouncer' must be a non-empty string"),
    ('[check]\npgbouncer-ini = ["a.ini"]\n', "'pgbouncer-ini' must be a non-empty string"),
    ('[check]\npgbouncer-ini = "missing.ini"\n', "missing.ini: cannot read the pgbouncer.ini: No such file"),
    ('[check]\npgbouncer-ini = "app"\n', "app: cannot read the pgbouncer.ini: not a regular file"),
    ('[check]\npgbouncer-ini = "app/jobs.py"\n', "app/jobs.py:1: a line before any [section]"),
    ('[check]\npgbouncer-ini = "bad\\u0000.ini"\n', "cannot read the pgbouncer.ini: not a valid path"),
    ('[check]\npgbouncer = "transaction"\npgbouncer-ini = "x.ini"\n', "give one of 'pgbouncer' and 'pgbouncer-ini'"),
    ('[check]\npgbouncr = "transaction"\n', "unknown key 'pgbouncr' (did you mean 'pgbouncer'?)"),
])
def test_bad_pooler_config_is_one_line(tmp_path: Path, config: str, needle: str) -> None:
    _tree(tmp_path, config)
    proc = run("check", "app", cwd=tmp_path)
    line = assert_clean_failure(proc, contains=needle)
    assert "poolwarden.toml" in line


def test_fifo_and_binary_ini(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.ini")  # never opened: it would block
    _tree(tmp_path, '[check]\npgbouncer-ini = "fifo.ini"\n')
    assert_clean_failure(run("check", "app", cwd=tmp_path, timeout=30), contains="not a regular file")
    (tmp_path / "bin.ini").write_bytes(b"[pgbouncer]\n\xff\xfe pool_mode = transaction\n")
    _tree(tmp_path, '[check]\npgbouncer-ini = "bin.ini"\n')
    assert_clean_failure(run("check", "app", cwd=tmp_path), contains="not UTF-8 text")


@FAST
@given(st.text(max_size=40))
def test_any_mode_value(tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    COUNTS["pgbouncer = <text>"] += 1
    base = tmp_path_factory.mktemp("mode")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped if ord(c) < 0x10000)
    path = base / "poolwarden.toml"
    path.write_text(f'[check]\npgbouncer = "{escaped}"\n', encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) or value.count("\n"), str(exc)
        assert "pgbouncer" in str(exc)
        return
    assert config.pooler is not None and config.pooler.mode in ("session", "transaction", "statement")


INI_LINE = st.one_of(
    st.sampled_from(["[pgbouncer]", "[databases]", "[users]", "pool_mode = transaction", "pool_mode=session",
                     "pool_mode = statement ; c", "max_prepared_statements = 50", "max_prepared_statements = x",
                     "app = host=db pool_mode=transaction", "%include other.ini", "; comment", "# comment",
                     "= =", "[", "]", "pool_mode", "POOL_MODE = TRANSACTION", ""]),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30),
)


@FAST
@given(st.lists(INI_LINE, max_size=12))
def test_any_ini_text(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    COUNTS["pgbouncer.ini text"] += 1
    base = tmp_path_factory.mktemp("ini")
    (base / "pgbouncer.ini").write_text("\n".join(lines), encoding="utf-8")
    path = base / "poolwarden.toml"
    path.write_text('[check]\npgbouncer-ini = "pgbouncer.ini"\n')
    try:
        config = load_config(path)
    except ConfigError as exc:  # PgBouncer's own strictness: one line naming the file and what is wrong
        message = str(exc)
        assert "pgbouncer.ini" in message and "\n" not in message, message
        if "no [pgbouncer] section" in message:
            assert not any(line.strip().lower() == "[pgbouncer]" for line in lines)
        return
    assert config.pooler is not None and config.pooler.where


def test_cli_answers_with_the_pooler(tmp_path: Path) -> None:
    COUNTS["cli"] += 1
    _tree(tmp_path, '[check]\npgbouncer = "transaction"\n')
    proc = invoke("check", str(tmp_path / "app"), "--no-cache", "--config", str(tmp_path / "poolwarden.toml"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PW111 `SET statement_timeout` behind a transaction-mode pooler (pgbouncer = 'transaction'" in proc.stdout


def test_pgbouncer_ini_option(tmp_path: Path) -> None:
    COUNTS["cli"] += 2
    _tree(tmp_path, "[check]\n")
    assert_clean_failure(run("check", "app", "--pgbouncer-ini", "nope.ini", cwd=tmp_path),
                         contains="--pgbouncer-ini: nope.ini: cannot read the pgbouncer.ini: No such file")
    (tmp_path / "pgbouncer.ini").write_text("[pgbouncer]\npool_mode = transaction\n")
    proc = run("check", "app", "--pgbouncer-ini", "pgbouncer.ini", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "behind a transaction-mode pooler (pgbouncer.ini:2)" in proc.stdout
