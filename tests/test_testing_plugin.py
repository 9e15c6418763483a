"""The pytest plugin itself: binaries lookup, cluster settings, saturation, leak assertion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from poolwarden.testing.cluster import PostgresCluster, PostgresNotFound, find_pg_bin
from poolwarden.testing.plugin import assert_no_connection_leaks


def test_a_wrong_explicit_bin_dir_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLWARDEN_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresNotFound, match=f"POOLWARDEN_PG_BIN={tmp_path} holds no initdb"):
        find_pg_bin()


def test_nothing_found_lists_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POOLWARDEN_PG_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(PostgresNotFound) as info:
        find_pg_bin()
    message = str(info.value)
    assert "PATH (no pg_ctl)" in message and "/usr/lib/postgresql/*/bin" in message
    assert "POOLWARDEN_PG_BIN" in message


def test_factory_applies_settings(postgres_factory: Any) -> None:
    cluster: PostgresCluster = postgres_factory(max_connections=7, idle_in_transaction_session_timeout="2s")
    with cluster.admin() as conn:
        assert conn.execute("SHOW max_connections").fetchone()[0] == "7"  # type: ignore[attr-defined]
        row = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()  # type: ignore[attr-defined]
        assert row[0] == "2s"


def test_saturation_makes_the_server_refuse_and_is_released(
    postgres_cluster: PostgresCluster, pg_saturate: Any
) -> None:
    with pg_saturate(postgres_cluster) as held:
        assert len(held) >= 3
        with pytest.raises(psycopg.OperationalError, match="too many clients already"):
            psycopg.connect(postgres_cluster.dsn(), connect_timeout=5)
    with assert_no_connection_leaks(postgres_cluster), psycopg.connect(postgres_cluster.dsn(), connect_timeout=5):
        pass


def test_a_leak_fails_and_names_the_application(postgres: str, postgres_cluster: PostgresCluster) -> None:
    conn = None
    leaked = r"1 backend\(s\) left behind: leaky \[idle\]"
    with pytest.raises(pytest.fail.Exception, match=leaked), assert_no_connection_leaks(postgres_cluster, settle=0.5):
        conn = psycopg.connect(postgres, application_name="leaky", autocommit=True)
    assert conn is not None
    conn.close()


def test_terminate_outage_drops_and_refuses_then_comes_back(postgres: str, postgres_cluster: PostgresCluster,
                                                            pg_outage: Any) -> None:
    from poolwarden.runtime.errors import ErrorKind, classify

    conn = psycopg.connect(postgres, autocommit=True, connect_timeout=5)
    try:
        with pg_outage(postgres_cluster, mode="terminate"):
            with pytest.raises(psycopg.OperationalError) as dropped:
                conn.execute("SELECT 1")
            with pytest.raises(psycopg.OperationalError) as refused:
                psycopg.connect(postgres, connect_timeout=5)
    finally:
        conn.close()
    assert classify(dropped.value) is ErrorKind.CONNECTION
    assert classify(refused.value) is ErrorKind.CONNECTION
    with psycopg.connect(postgres, connect_timeout=5) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


# -- issue 10 item 18: fixtures documented, the missing driver named in one line, leaks traced to their test ------

_POOLWARDEN_FIXTURES = {"postgres_factory", "postgres_cluster", "postgres", "pg_saturate", "pg_outage", "pgbouncer",
                        "pgbouncer_factory", "assert_no_connection_leaks", "drill", "_poolwarden_leak_guard",
                        "prometheus_factory"}


def _inner_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    src = str(Path(__file__).resolve().parents[1] / "src")
    path = os.pathsep.join(p for p in (str(tmp_path / "site"), src, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def test_every_fixture_of_the_plugin_has_a_docstring(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pytest", "--fixtures", "-v", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=_inner_env(tmp_path), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    import re

    section = proc.stdout.split("fixtures defined from poolwarden.testing.plugin", 1)[1]
    section = re.split(r"\n(?:-{3,} fixtures defined from|={3,})", section, maxsplit=1)[0]
    blocks: dict[str, str] = {}
    name = ""
    for line in section.splitlines()[1:]:
        head = re.match(r"^(\w+)(?: \[\w+ scope\])? -- ", line)
        if head:
            name = head.group(1)
            blocks[name] = ""
        elif name:
            blocks[name] += line.strip() + "\n"
    assert set(blocks) == _POOLWARDEN_FIXTURES
    undocumented = sorted(n for n, doc in blocks.items() if not doc.strip() or "no docstring available" in doc)
    assert not undocumented, undocumented
    assert 'application_name="poolwarden-saturate"' in blocks["pg_saturate"]


def test_a_missing_driver_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoPsycopg:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'psycopg' or name.startswith('psycopg.'):\n"
        "            raise ImportError('blocked for the test: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _NoPsycopg())\n")
    (tmp_path / "test_inner.py").write_text("def test_uses_a_database(postgres):\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_inner.py"], cwd=tmp_path,
                          env=_inner_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    lines = [line for line in out.splitlines() if "pip install 'poolwarden[testing]'" in line]
    assert lines and lines[0].startswith("poolwarden's pytest plugin needs psycopg 3"), out
    assert "Traceback" not in out and "ModuleNotFoundError" not in out and "ImportError" not in out, out
    assert "raise" not in out and 'File "' not in out, out


def test_a_leak_report_names_the_test_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky="""
        import psycopg

        HELD = []


        def test_forgets_to_close(postgres):
            HELD.append(psycopg.connect(postgres, autocommit=True))
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "poolwarden_leak_settle=0.5",
                                           timeout=180)
    result.assert_outcomes(passed=1, errors=1)  # the test passes; its teardown reports the leak
    text = result.stdout.str()
    assert "connection leak: 1 backend(s) left behind: opened during test_leaky.py::test_forgets_to_close " \
           "(test_leaky.py:6) [idle]" in text, text


# -- issue 11 item 6: nothing outlives a crashed run; the plugin under pytest-xdist ---------------------------------

def _mentioning(path: Path) -> list[int]:
    """Processes (other than this one) whose command line names something under ``path``: a
    postmaster (``-D path/data``), a PgBouncer (``path/pgbouncer-N/pgbouncer.ini``), a reaper."""
    import os

    needle = (str(path).rstrip("/") + "/").encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path("/proc", entry, "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline:
                found.append(int(entry))
    return found


def _left_behind(tmp: Path) -> tuple[list[int], list[str]]:
    return _mentioning(tmp), sorted(p.name for p in tmp.iterdir())


def _wait_for_nothing_left(tmp: Path, timeout: float = 60.0) -> tuple[list[int], list[str]]:
    """What is still there under ``tmp`` once nothing is, or once ``timeout`` seconds have passed
    (a bounded wait: the reaper works after its owner died, asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    left = _left_behind(tmp)
    while left != ([], []) and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _left_behind(tmp)
    return left


@pytest.fixture
def crash_tmp(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A private TMPDIR (traversable by ``postgres``) for the clusters of a run that will crash;
    whatever the run leaves there is stopped and removed afterwards, so a failing test leaks nothing."""
    import os
    import shutil
    import signal
    import subprocess
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="pw-crash-"))
    os.chmod(path, 0o755)
    monkeypatch.setenv("TMPDIR", str(path))
    try:
        yield path
    finally:
        for data in path.glob("*/data"):
            if (data / "postmaster.pid").exists():
                subprocess.run(["runuser", "-u", "postgres", "--", str(find_pg_bin() / "pg_ctl"), "-D", str(data),
                                "-m", "immediate", "-w", "-t", "30", "stop"], capture_output=True, timeout=60,
                               check=False)
        for pid in _mentioning(path):
            with __import__("contextlib").suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)


def test_a_test_that_kills_its_process_leaves_no_cluster_behind(pytester: pytest.Pytester, crash_tmp: Path) -> None:
    pytester.makepyfile(test_crash="""
        import os


        def test_dies(postgres_cluster, pgbouncer):
            assert pgbouncer.process.poll() is None
            os._exit(1)
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=180)
    assert result.ret == 1, result.stdout.str() + result.stderr.str()
    assert len(list(crash_tmp.iterdir())) <= 1  # the one cluster of the run (or nothing left already)
    assert _wait_for_nothing_left(crash_tmp) == ([], [])


_OWNER = """
import os
import sys
from poolwarden.testing.cluster import PostgresCluster, find_pg_bin
from poolwarden.testing.pgbouncer import PgBouncer

cluster = PostgresCluster(find_pg_bin()).start()
PgBouncer(cluster).start()
child = os.fork() if sys.argv[1] == "fork" else -1
if child == 0:  # a forked child neither owns the cluster nor keeps it alive: it outlives the owner here
    sys.stdin.read()
    os._exit(0)
print(cluster.base, child, flush=True)
sys.stdin.read()  # hold the cluster until this process is killed
"""


@pytest.mark.parametrize("fork", ["fork", "no-fork"])
def test_a_killed_owner_leaves_no_cluster_behind(crash_tmp: Path, fork: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, fork], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env)
    try:
        assert owner.stdout is not None
        base_text, child = owner.stdout.readline().decode().split()
        base = Path(base_text)
        assert base.parent == crash_tmp and (base / "data" / "postmaster.pid").exists()
        assert _mentioning(base)  # the postmaster and PgBouncer run
        owner.kill()  # SIGKILL: no finaliser, no atexit, no signal handler runs in the owner
        owner.wait(timeout=30)
        assert owner.returncode == -signal.SIGKILL
        if fork == "fork":
            assert Path("/proc", child).exists()  # the forked child lives on (reading our pipe)
        assert _wait_for_nothing_left(crash_tmp) == ([], [])
    finally:
        owner.kill()
        owner.wait(timeout=30)
        for pipe in (owner.stdin, owner.stdout):  # EOF ends the forked child too
            if pipe is not None:
                pipe.close()


def test_a_torn_down_cluster_takes_its_reaper_along() -> None:
    with PostgresCluster(find_pg_bin()) as cluster:
        assert cluster.reaper is not None and cluster.reaper.process is not None
        reaper = cluster.reaper.process
        assert reaper.poll() is None  # on watch while the cluster runs
    assert reaper.returncode == 0  # it swept, found nothing left, and exited: destroy() waited for it
    assert not cluster.base.exists() and _mentioning(cluster.base) == []


_XDIST_SUITE = """
    import os

    import psycopg
    import pytest

    HELD = []


    @pytest.mark.parametrize("n", range(8))
    def test_uses_a_database(postgres, postgres_cluster, worker_id, n):
        with psycopg.connect(postgres, connect_timeout=10) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == postgres.rsplit("/", 1)[1]
        with open(os.path.join(os.environ["PW_SEEN"], f"{worker_id}-{n}"), "w") as out:
            out.write(f"{postgres_cluster.port} {postgres_cluster.sockets}")


    def test_forgets_to_close(postgres):
        HELD.append(psycopg.connect(postgres, autocommit=True))
    """


def test_the_plugin_under_xdist_gives_each_worker_its_own_cluster(pytester: pytest.Pytester, crash_tmp: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen = pytester.mkdir("seen")
    monkeypatch.setenv("PW_SEEN", str(seen))
    pytester.makepyfile(test_many=_XDIST_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "4", "-o", "poolwarden_leak_settle=0.5",
                                           timeout=240)
    result.assert_outcomes(passed=9, errors=1)  # the leak guard works in each worker, and names the test
    text = result.stdout.str()
    assert "connection leak: 1 backend(s) left behind: opened during test_many.py::test_forgets_to_close " \
           "(test_many.py:17) [idle]" in text, text
    by_worker: dict[str, set[str]] = {}
    for record in seen.iterdir():
        by_worker.setdefault(record.name.split("-")[0], set()).add(record.read_text())
    assert len(list(seen.iterdir())) == 8
    assert len(by_worker) >= 2, by_worker  # the tests were spread over workers
    assert all(len(addresses) == 1 for addresses in by_worker.values()), by_worker  # one cluster per worker
    addresses = [next(iter(a)).split() for a in by_worker.values()]
    assert len({port for port, _ in addresses}) == len({sock for _, sock in addresses}) == len(by_worker)
    assert _left_behind(crash_tmp) == ([], [])  # a normal teardown waits for the reapers: nothing to wait for


def test_a_crashed_xdist_worker_leaves_no_cluster_behind(pytester: pytest.Pytester, crash_tmp: Path) -> None:
    pytester.makepyfile(test_crash="""
        import os

        import psycopg


        def test_dies(postgres):
            os._exit(1)


        def test_lives(postgres):
            with psycopg.connect(postgres, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    assert "crashed while running" in result.stdout.str()
    assert _wait_for_nothing_left(crash_tmp) == ([], [])


def test_the_reaper_kills_the_postmasters_group_when_pg_ctl_cannot_stop_it(tmp_path: Path) -> None:
    import os
    import select

    from poolwarden.testing.reaper import reap

    with PostgresCluster(find_pg_bin()) as cluster:
        conn = psycopg.connect(cluster.dsn(), connect_timeout=10)
        try:
            backend = os.pidfd_open(conn.info.backend_pid)
            pid_file = (cluster.data / "postmaster.pid").read_text().splitlines()
            postmaster = os.pidfd_open(int(pid_file[0]))
            shmid = pid_file[6].split()[1]
            # no pg_ctl there: the fallback (SIGKILL to the postmaster's process group) has to do it
            assert reap(cluster.base, tmp_path, as_postgres=os.geteuid() == 0) == []
            for pidfd in (postmaster, backend):  # readable once the process has ended (bounded wait)
                assert select.select([pidfd], [], [], 30)[0] == [pidfd]
                os.close(pidfd)
        finally:
            conn.close()
        assert not cluster.base.exists() and _mentioning(cluster.base) == []
        segments = [line.split()[1] for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
        assert shmid not in segments  # the killed postmaster's shared memory went too
