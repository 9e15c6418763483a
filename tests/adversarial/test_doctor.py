"""doctor, top and exporter (and budget --dsn) under hostile or careless input: generated DSNs
carrying secrets, bad --idle-age values, bad --pgbouncer DSNs, unreachable servers (127.0.0.1
ports nothing listens on, never a remote host), missing drivers. Every one gets the contract of
tests/adversarial/contract.py: exit 2, one ``poolwarden: error:`` line, no traceback, no secret.

Each test counts the generated inputs it was thrown (``THROWN``); pytest's summary prints the totals."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from poolwarden.doctor import take
from poolwarden.durations import parse_duration
from poolwarden.errors import UsageError
from poolwarden.testing.cluster import PostgresCluster, free_port

from .contract import SECRETS, assert_clean_failure, assert_no_secret, nothing_left_behind, run, scaled, thrown

THROWN = thrown('doctor, top, exporter')  # generated inputs actually thrown, per test

CLI_EXAMPLES = scaled(20)  # each a subprocess: a command drawn from doctor, top, exporter, budget --dsn
LIB_EXAMPLES = 200

PASSWORDS = st.one_of(
    st.sampled_from(SECRETS),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=6, max_size=20)
    .filter(lambda p: p.strip() == p),
)
FORMS = st.sampled_from(["url-raw", "url-encoded", "url-query", "url-sslpassword", "kv-quoted", "kv-raw",
                         "kv-sslpassword", "socket-dir"])
HOSTS = st.sampled_from(["127.0.0.1", "localhost", "127.0.0.1,127.0.0.1"])
CLI = settings(max_examples=CLI_EXAMPLES, deadline=None,
               suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
HALF_CLI = settings(max_examples=CLI_EXAMPLES // 2, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
LIB = settings(max_examples=LIB_EXAMPLES, deadline=None,
               suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


def _kv(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dsn(form: str, password: str, host: str, port: int) -> str:
    """A DSN of ``form`` to a server that is not there, carrying ``password``."""
    hostport = ",".join(f"{h}:{port}" for h in host.split(",")) if "," in host else f"{host}:{port}"
    return {
        "url-raw": f"postgresql://app:{password}@{hostport}/db",
        "url-encoded": f"postgresql://app:{quote(password, safe='')}@{hostport}/db",
        "url-query": f"postgresql://app@{hostport}/db?connect_timeout=3&password={quote(password, safe='')}",
        "url-sslpassword": f"postgresql://app@{hostport}/db?sslpassword={password}&sslmode=disable",
        "kv-quoted": f"host={host} port={port} user=app password={_kv(password)} dbname=db",
        "kv-raw": f"host={host} port={port} user=app password={password} dbname=db",
        "kv-sslpassword": f"host={host} port={port} sslpassword={_kv(password)} sslmode=disable",
        "socket-dir": f"host=/nonexistent/pw-{port} user=app password={_kv(password)}",
    }[form]


def _usable(password: str, port: int) -> bool:
    """Whether ``password`` can be told apart from the rest of the output at all."""
    words = ("127.0.0.1 localhost app db poolwarden: error: --dsn --pgbouncer connection failed to server at port "
             "Connection refused is the server running on that host and accepting TCP/IP connections? No such "
             "file or directory nonexistent socket invalid percent-encoded token missing separator in URI query "
             "parameter connection info string unterminated quoted string withheld *** budget --dsn sslmode "
             f"disable connect_timeout postgresql:// password= sslpassword= {port} pw-{port}")
    return password not in words


@CLI
@given(command=st.sampled_from(["doctor", "top", "exporter", "budget"]), form=FORMS, password=PASSWORDS,
       host=HOSTS, via_env=st.booleans())
def test_unreachable_dsn_with_a_secret(command: str, form: str, password: str, host: str, via_env: bool,
                                       tmp_path: Path) -> None:
    THROWN['unreachable dsn with a secret'] += 1
    port = free_port()
    assume(_usable(password, port))
    dsn = _dsn(form, password, host, port)
    args: list[str] = [command]
    if command == "budget":
        cfg = tmp_path / "poolwarden.toml"
        cfg.write_text("[budget]\nmax_connections = 100\n")
        args += ["--config", str(cfg)]
    private = Path(tempfile.mkdtemp(dir=tmp_path))
    env = {"TMPDIR": str(private), **({"POOLWARDEN_DSN": dsn} if via_env else {})}
    if not via_env:
        args += ["--dsn", dsn]
    with nothing_left_behind(private):
        proc = run(*args, env=env, timeout=60)
    assert not list(private.iterdir())
    assert_clean_failure(proc, contains="--dsn", secrets=(*SECRETS, password))


@LIB
@given(form=FORMS, password=PASSWORDS, host=HOSTS)
def test_library_take_never_leaks(form: str, password: str, host: str) -> None:
    THROWN['library take never leaks'] += 1
    port = free_port()
    assume(_usable(password, port))
    dsn = _dsn(form, password, host, port)
    with pytest.raises(UsageError) as info:
        take(dsn)
    message = str(info.value)
    assert_no_secret(message, (*SECRETS, password))
    assert "\n" not in message and message.startswith("--dsn ")


_VALID_PART = st.tuples(st.integers(0, 99), st.sampled_from(["ms", "s", "m", "min", "h", "d"]))


@settings(max_examples=LIB_EXAMPLES, deadline=None)
@given(parts=st.lists(_VALID_PART, min_size=1, max_size=4), sep=st.sampled_from(["", " "]))
def test_compound_durations_add_up(parts: list[tuple[int, str]], sep: str) -> None:
    THROWN['compound durations add up'] += 1
    units = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    text = sep.join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text, "--idle-age") == pytest.approx(sum(n * units[u] for n, u in parts))


def _not_a_duration(text: str) -> bool:
    try:
        parse_duration(text, "x")
    except UsageError:
        return True
    return False


BAD_DURATIONS = st.one_of(
    st.sampled_from(["", " ", "-5m", "1h30", "10 minutes", "1e400", "nan", "inf", "m", "5x", "1.h", "1h-30m",
                     "9" * 400 + "h", "10m;DROP", "'10m'"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
).filter(_not_a_duration)


@settings(max_examples=LIB_EXAMPLES, deadline=None)
@given(text=BAD_DURATIONS)
def test_bad_durations_are_usage_errors(text: str) -> None:
    THROWN['bad durations are usage errors'] += 1
    with pytest.raises(UsageError, match=r"--idle-age: .* is not a duration"):
        parse_duration(text, "--idle-age")


@HALF_CLI
@given(command=st.sampled_from(["doctor", "top", "exporter"]), value=BAD_DURATIONS)
def test_bad_idle_age_fails_before_connecting(command: str, value: str) -> None:
    THROWN['bad idle age fails before connecting'] += 1
    dsn = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/db"
    proc = run(command, "--dsn", dsn, f"--idle-age={value}")
    line = assert_clean_failure(proc, contains="--idle-age")
    assert "connection" not in line  # it never tried


@settings(max_examples=LIB_EXAMPLES // 2, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(form=FORMS, password=PASSWORDS)
def test_bad_pgbouncer_dsn_in_the_library(postgres: str, form: str, password: str) -> None:
    THROWN['bad pgbouncer dsn in the library'] += 1
    port = free_port()
    assume(_usable(password, port))
    with pytest.raises(UsageError) as info:
        take(postgres, _dsn(form, password, "127.0.0.1", port))
    message = str(info.value)
    assert message.startswith("--pgbouncer ") and "\n" not in message
    assert_no_secret(message, (*SECRETS, password))


@HALF_CLI
@given(form=FORMS, password=PASSWORDS)
def test_bad_pgbouncer_dsn(postgres: str, form: str, password: str) -> None:
    THROWN['bad pgbouncer dsn'] += 1
    port = free_port()
    assume(_usable(password, port))
    proc = run("doctor", "--dsn", postgres, "--pgbouncer", _dsn(form, password, "127.0.0.1", port))
    assert_clean_failure(proc, contains="--pgbouncer", secrets=(*SECRETS, password))


@pytest.mark.parametrize("dsn", [
    "postgresql://app:Pa%ssw0rd@127.0.0.1:{port}/db",
    "postgresql://app:hun@ter2@127.0.0.1:{port}/db",
    "host=127.0.0.1 port={port} sslpassword=sslpw-XYZ sslmode=require",
    "host=127.0.0.1 port={port} password='s3cr3t with spaces'",
    "host=127.0.0.1 port={port} password='it\\'s hunter2'",
    "host=127.0.0.1 port={port} password=hun ter2",
    "host='127.0.0.1\nINJECTED' port={port} password=hunter2",
    "postgresql://app:hunter2@127.0.0.1:{port}/db?" + "x" * 5000,
    "\x1b[2Jpostgresql://app:hunter2@127.0.0.1:{port}/db",
])
@pytest.mark.parametrize("command", ["doctor", "top", "exporter"])
def test_the_issue_dsns_in_every_command(command: str, dsn: str) -> None:
    proc = run(command, "--dsn", dsn.format(port=free_port()))
    assert_clean_failure(proc, contains="--dsn")


@pytest.mark.parametrize(("command", "blocked", "message"), [
    (["doctor", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "psycopg",
     "doctor needs psycopg: pip install 'poolwarden[doctor]'"),
    (["doctor", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db", "--format", "prometheus"], "prometheus_client",
     "doctor --format prometheus needs prometheus-client: pip install 'poolwarden[exporter]'"),
    (["top", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "psycopg",
     "top needs psycopg: pip install 'poolwarden[top]'"),
    (["top", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "rich",
     "top needs rich: pip install 'poolwarden[top]'"),
    (["exporter", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "psycopg",
     "exporter needs psycopg: pip install 'poolwarden[exporter]'"),
    (["exporter", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "prometheus_client",
     "exporter needs prometheus-client: pip install 'poolwarden[exporter]'"),
    (["budget", "--config", "{cfg}", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "psycopg",
     "budget --dsn needs psycopg: pip install 'poolwarden[budget]'"),
    (["drill", "--call", "os:getcwd", "--dsn", "postgresql://a:hunter2@127.0.0.1:1/db"], "psycopg",
     "drill needs psycopg: pip install 'poolwarden[drill]'"),
])
def test_a_missing_driver_names_the_extra(tmp_path: Path, command: list[str], blocked: str, message: str) -> None:
    """The import itself fails (a meta-path blocker in a sitecustomize), nothing else is faked."""
    cfg = tmp_path / "poolwarden.toml"
    cfg.write_text("[budget]\nmax_connections = 100\n")
    proc = run(*[c.replace("{cfg}", str(cfg)) for c in command], env=_blocking(tmp_path, blocked))
    assert_clean_failure(proc, contains=message)


def test_check_imports_no_driver(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import os\n\n\ndef f():\n    return os.getcwd()\n")
    proc = run("check", str(tmp_path), "--no-cache",
               env=_blocking(tmp_path / "site", "psycopg,psycopg2,psycopg_pool,asyncpg,sqlalchemy,rich,"
                                                "prometheus_client"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _blocking(where: Path, modules: str) -> dict[str, str]:
    """An environment whose Python cannot import ``modules`` (comma-separated top-level names)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(
        "import os, sys\n"
        "_BLOCKED = set(os.environ['PW_TEST_BLOCK'].split(','))\n"
        "class _Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in _BLOCKED:\n"
        "            raise ImportError(f'No module named {name!r} (blocked by the test)')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Blocker())\n")
    return {"PYTHONPATH": os.pathsep.join([str(where), os.environ.get("PYTHONPATH", "")]), "PW_TEST_BLOCK": modules}


def test_exporter_on_a_busy_port_and_a_server_that_goes_away(postgres_factory: Any) -> None:
    """A port already taken: one line, exit 2. A server that stops between scrapes: ``poolwarden_up 0``
    and a one-line warning (masked), never a traceback; the exporter keeps serving."""
    import httpx

    cluster: PostgresCluster = postgres_factory()
    dsn = cluster.dsn(password="postgres")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("exporter", "--dsn", dsn, "--port", str(taken.getsockname()[1]))
    assert_clean_failure(busy, contains="cannot listen on")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "poolwarden", "exporter", "--dsn", dsn, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        for _ in range(400):  # until it listens (bounded: 20 s)
            assert proc.poll() is None
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert "poolwarden_up 1.0" in body
        cluster.stop()
        down = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        assert down.status_code == 200 and "poolwarden_up 0.0" in down.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.stderr is not None:
            proc.stderr.close()
        cluster.destroy()
    assert "Traceback" not in err and "poolwarden: warning: scrape failed: --dsn postgresql://postgres:***@" in err
    assert_no_secret(err, ("postgres:postgres@",))
