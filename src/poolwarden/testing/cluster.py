"""Throwaway PostgreSQL clusters from the local server binaries, for tests and drills.

:func:`find_pg_bin` finds ``initdb`` / ``pg_ctl`` (``POOLWARDEN_PG_BIN``, the given option,
``PATH``, ``/usr/lib/postgresql/*/bin``); :class:`PostgresCluster` initialises a data
directory in a temporary folder, starts the server on a free loopback port with its own socket
directory and the settings asked for, and stops and removes it. Running as root (CI, sessions)
the server runs as the ``postgres`` user through ``runuser``, since initdb refuses root.

A cluster never outlives the process that created it: a :class:`~poolwarden.testing.reaper.Reaper`
started with it stops the server (and a PgBouncer in front of it) and removes its directory when
that process ends without tearing it down — an ``os._exit``, a SIGKILL, a crashed pytest-xdist worker.

The superuser is ``postgres`` with password ``postgres`` over TCP (scram-sha-256), so a test
can also produce a real authentication failure; the Unix socket trusts local connections.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from poolwarden.errors import UsageError
from poolwarden.testing.reaper import Reaper

SUPERUSER = "postgres"
PASSWORD = "postgres"


class PostgresNotFound(UsageError):
    """No PostgreSQL server binaries were found."""


def find_pg_bin(option: str | None = None) -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``.

    Looks at ``POOLWARDEN_PG_BIN``, then ``option`` (the ``poolwarden_pg_bin`` ini option), then
    ``PATH``, then ``/usr/lib/postgresql/*/bin`` (newest version first). Raises
    :class:`PostgresNotFound` listing every place it tried.
    """
    tried: list[str] = []
    candidates: list[str] = []
    explicit = os.environ.get("POOLWARDEN_PG_BIN") or option
    if explicit:  # an explicit setting wins, and a wrong one is an error, not a silent fallback
        path = Path(explicit)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
        source = "POOLWARDEN_PG_BIN" if os.environ.get("POOLWARDEN_PG_BIN") else "poolwarden_pg_bin"
        raise PostgresNotFound(f"{source}={explicit} holds no initdb and pg_ctl")
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    else:
        tried.append("PATH (no pg_ctl)")
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
        tried.append(str(path))
    if not glob.glob("/usr/lib/postgresql/*/bin"):
        tried.append("/usr/lib/postgresql/*/bin (none)")
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; tried: " + ", ".join(tried)
        + ". Install Debian's `postgresql` package or set POOLWARDEN_PG_BIN (or the poolwarden_pg_bin ini option)."
    )


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One throwaway PostgreSQL server. Use as a context manager, or call start() / stop()."""

    def __init__(self, bin_dir: Path, settings: Mapping[str, object] | None = None,
                 base_dir: str | os.PathLike[str] | None = None) -> None:
        self.bin_dir = bin_dir
        self.settings: dict[str, object] = {"max_connections": 40, **(settings or {})}
        self.base = Path(tempfile.mkdtemp(prefix="poolwarden-pg-", dir=base_dir))
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._as_postgres = os.geteuid() == 0
        self.running = False
        try:  # from here on, the directory (and any server in it) goes when this process goes
            self.reaper: Reaper | None = Reaper(self.base, bin_dir, self._as_postgres)
        except OSError:
            shutil.rmtree(self.base, ignore_errors=True)
            raise

    # -- process control -----------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                               f"{self._log_tail()}")
        return proc

    def _log_tail(self) -> str:
        try:
            return "\n--- server log ---\n" + "\n".join(self.log.read_text().splitlines()[-15:])
        except OSError:
            return ""

    def init(self) -> None:
        """Create the data directory (initdb) with password auth over TCP."""
        self.sockets.mkdir(parents=True)
        pwfile = self.base / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            user = pwd.getpwnam(SUPERUSER)
            for path in (self.base, self.sockets, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync")

    def start(self) -> PostgresCluster:
        """Start the server (initialising it first if needed) and wait until it accepts connections."""
        if not self.data.exists():
            self.init()
        options = [f"-p {self.port}", f"-k {self.sockets}", "-c listen_addresses=127.0.0.1", "-c fsync=off",
                   "-c synchronous_commit=off", "-c full_page_writes=off"]
        # pg_ctl runs the server through /bin/sh -c: each setting is quoted, never interpreted
        options += [f"-c {shlex.quote(f'{key}={value}')}" for key, value in self.settings.items()]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", " ".join(options), "-w", "-t", "60",
                  "start")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server (``fast``: disconnect clients; ``immediate``: as after a crash).

        Returns whether pg_ctl reported success."""
        ok = True
        if self.data.exists():
            ok = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                           check=False).returncode == 0
        self.running = False
        return ok

    def _signal_postmaster(self) -> None:
        """Last resort when pg_ctl cannot stop it: SIGQUIT (immediate shutdown) to the postmaster."""
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGQUIT)

    def destroy(self) -> None:
        """Stop the server if running and remove every file it had; then the reaper sweeps what is
        left (a PgBouncer still running from the directory, say) and exits."""
        if self.running and not self.stop("immediate"):
            self._signal_postmaster()
        shutil.rmtree(self.base, ignore_errors=True)
        if self.reaper is not None:
            self.reaper.release()
            self.reaper = None

    def __enter__(self) -> PostgresCluster:
        try:
            return self.start()
        except BaseException:
            self.destroy()  # a server that did not start leaves no directory behind
            raise

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- addresses -------------------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres", *, user: str = SUPERUSER, password: str = PASSWORD,
            **params: object) -> str:
        """A libpq URL for ``dbname`` over TCP (``postgresql://user:pass@127.0.0.1:port/db?…``)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname}" + (f"?{query}" if query else "")

    @contextlib.contextmanager
    def admin(self) -> Iterator[object]:
        """An autocommit psycopg connection as superuser to the ``postgres`` database."""
        import psycopg

        conn = psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10,
                               application_name="poolwarden-admin")
        try:
            yield conn
        finally:
            conn.close()
