"""A real PgBouncer (Debian's ``pgbouncer``) in front of a throwaway cluster, for tests.

PgBouncer talks to the server over the cluster's Unix socket (trusted); clients reach it on a
free loopback port as ``postgres`` (``auth_type = trust``, a one-line ``auth_file``). It runs in
the foreground under the test's control — as the ``postgres`` user when the tests run as root,
since PgBouncer refuses root — and is stopped, and its files removed, by :meth:`PgBouncer.stop`.
Its files live in the cluster's directory, so when the process that owns the cluster dies without
stopping it, the cluster's reaper (:mod:`poolwarden.testing.reaper`) ends this PgBouncer too.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping

from poolwarden.testing.cluster import PASSWORD, SUPERUSER, PostgresCluster, free_port
from poolwarden.testing.servers import end_process, find_binary

_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer")


def find_pgbouncer() -> str:
    """The pgbouncer executable (``POOLWARDEN_PGBOUNCER``, PATH, the Debian locations)."""
    return find_binary("pgbouncer", "POOLWARDEN_PGBOUNCER", _CANDIDATES)


class PgBouncer:
    """One PgBouncer process in front of ``cluster`` (transaction pooling unless told otherwise)."""

    def __init__(self, cluster: PostgresCluster, settings: Mapping[str, object] | None = None) -> None:
        self.cluster = cluster
        self.settings: dict[str, object] = {
            "pool_mode": "transaction",
            "default_pool_size": 5,
            "max_client_conn": 100,
            **(settings or {}),
        }
        self.port = free_port()
        self.base = cluster.base / f"pgbouncer-{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PgBouncer:
        self.base.mkdir()
        auth = self.base / "userlist.txt"
        auth.write_text(f'"{SUPERUSER}" "{PASSWORD}"\n')
        ini = self.base / "pgbouncer.ini"
        lines = [
            "[databases]",
            f"* = host={self.cluster.sockets} port={self.cluster.port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {auth}",
            f"admin_users = {SUPERUSER}",
            f"logfile = {self.base / 'pgbouncer.log'}",
            "ignore_startup_parameters = extra_float_digits,options,statement_timeout",
            *(f"{key} = {value}" for key, value in self.settings.items()),
        ]
        ini.write_text("\n".join(lines) + "\n")
        cmd = [find_pgbouncer(), str(ini)]
        if os.geteuid() == 0:
            user = pwd.getpwnam(SUPERUSER)
            for path in (self.base, auth, ini):
                os.chown(path, user.pw_uid, user.pw_gid)
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"pgbouncer exited ({self.process.returncode}): {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)  # waiting for the listener to come up (bounded)
        raise RuntimeError("pgbouncer did not start listening within 15 s")

    def stop(self) -> None:
        end_process(self.process)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, dbname: str = "postgres", **params: object) -> str:
        """A libpq URL reaching ``dbname`` through PgBouncer."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}" + (f"?{query}" if query else "")

    def release(self, dbname: str) -> None:
        """Close PgBouncer's pooled server connections to ``dbname`` (``KILL`` then ``RESUME``)."""
        import psycopg

        with psycopg.connect(self.dsn("pgbouncer"), autocommit=True, connect_timeout=5, prepare_threshold=None) as conn:
            conn.execute(f"KILL {dbname}")
            conn.execute(f"RESUME {dbname}")

    def show(self, what: str) -> list[dict[str, object]]:
        """``SHOW POOLS`` / ``SHOW STATS`` … from the admin console, as dicts."""
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.dsn("pgbouncer"), autocommit=True, connect_timeout=5, row_factory=dict_row,
                             prepare_threshold=None) as conn:
            return list(conn.execute(f"SHOW {what}").fetchall())
