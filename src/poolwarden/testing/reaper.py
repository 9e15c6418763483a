"""A throwaway cluster never outlives the process that owns it.

With each :class:`~poolwarden.testing.cluster.PostgresCluster` comes a :class:`Reaper`: a small
watchdog process (this file, run as a script by path, standard library only) that blocks reading
a pipe whose only writer is the owning process. The kernel closes that pipe when the owner ends,
however it ends — it returns, raises, calls ``os._exit``, is SIGKILLed or OOM-killed — so the
watchdog reads end-of-file, then stops everything that runs from the cluster's directory, removes
the directory, and exits. Nothing is polled and no signal has to reach the owner: the pipe's EOF is
the owner's death. (``PR_SET_PDEATHSIG`` does not fit: the postmaster is started by ``pg_ctl``
through ``runuser`` as another user, and is not a child of the owner.)

A normal teardown (:meth:`PostgresCluster.destroy`) stops the cluster itself, then
:meth:`Reaper.release` closes the pipe and waits for the watchdog, which finds nothing left to do
and exits: the watchdog never outlives its job, whichever way the job ends.

What belongs to a cluster: every process whose command line names a path under its directory —
the postmaster (``-D <dir>/data``: stopped with ``pg_ctl stop -m immediate``, else its process
group is killed, backends included, and its shared memory segment removed), a PgBouncer
(``<dir>/pgbouncer-N/pgbouncer.ini``) and the ``runuser`` around it, an ``initdb`` or a
``pg_ctl start`` still under way when the owner died.

The owner is the process that created the cluster: a process forked from it (``os.fork``,
multiprocessing's fork) closes its copy of the pipe at once, so it neither keeps the cluster alive
nor takes it down. The watchdog runs in a session of its own, so a Ctrl-C or a signal sent to the
test run's process group reaches the owner (which tears down normally) and not the watchdog.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

_ROUNDS = 10  # a round ends what it finds; another is needed only when something was still starting
_EXIT_WAIT = 10.0  # seconds a SIGKILLed process gets to be gone (it takes microseconds)
_RELEASE_WAIT = 120.0  # seconds a normal teardown waits for the watchdog (it has a pg_ctl stop at most)
_LIVE: set[IO[bytes]] = set()  # write ends held by this process, closed in forked children


def _forget_in_child() -> None:
    for pipe in _LIVE:
        with contextlib.suppress(OSError):
            pipe.close()
    _LIVE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class Reaper:
    """The watchdog of one cluster directory, owned by the process that creates it."""

    def __init__(self, base: Path, bin_dir: Path, as_postgres: bool) -> None:
        self.owner = os.getpid()
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", __file__, str(base), str(bin_dir), "1" if as_postgres else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True, close_fds=True,
        )
        assert self.process.stdin is not None
        _LIVE.add(self.process.stdin)

    def release(self) -> bool:
        """Close the pipe (the cluster is torn down, or about to be) and wait for the watchdog to
        finish its sweep and exit. Returns whether it left nothing behind (exit status 0)."""
        process, self.process = self.process, None
        if process is None or os.getpid() != self.owner:
            return True
        if process.stdin is not None:
            _LIVE.discard(process.stdin)
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            return process.wait(timeout=_RELEASE_WAIT) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_EXIT_WAIT)
            return False


def processes_under(base: Path) -> list[int]:
    """Processes, this one excepted, whose command line names a path under ``base`` (Linux ``/proc``)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and _names(int(entry), base):
                found.append(int(entry))
    return found


def _names(pid: int, base: Path) -> bool:
    """Whether process ``pid``'s command line names a path under ``base`` (False once it ended)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return (str(base).rstrip("/") + "/").encode() in file.read()
    except OSError:
        return False


def _pg_ctl_stop(data: Path, bin_dir: Path, as_postgres: bool) -> None:
    cmd = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"]
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)


def _kill(pids: list[int], base: Path) -> None:
    """SIGKILL each process — a process group leader (the postmaster, made one by pg_ctl) with its
    whole group, so its backends go too — and wait (bounded) until each has ended.

    Each process is pinned by a pidfd first and checked again to be ours, so a pid reused since
    the scan is never signalled."""
    waiting = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # it ended since the scan
            continue
        waiting.append(fd)
        if not _names(pid, base):
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
    for fd in waiting:  # a pidfd becomes readable when its process ends
        with contextlib.suppress(OSError):
            select.select([fd], [], [], _EXIT_WAIT)
        os.close(fd)


def _drop_shared_memory(pid_file: Path) -> None:
    """A postmaster killed with SIGKILL leaves its pid file and its small System V shared memory
    segment (``<key> <id>`` on the pid file's 7th line) behind: remove the segment, which no
    process uses any more (every process of the cluster has ended)."""
    try:
        shmid = pid_file.read_text().splitlines()[6].split()[1]
    except (OSError, IndexError):
        return
    if shmid.isdigit():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["ipcrm", "-m", shmid], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           check=False)


def reap(base: Path, bin_dir: Path, as_postgres: bool) -> list[str]:
    """Stop everything that runs from ``base`` and remove it; what could not be done, in words."""
    data = base / "data"
    left: list[int] = []
    for _ in range(_ROUNDS):
        if (data / "postmaster.pid").exists():
            _pg_ctl_stop(data, bin_dir, as_postgres)
        left = processes_under(base)
        if not left:
            break
        _kill(left, base)
    problems = [f"processes still running from {base}: {left}"] if left else []
    if not left:
        _drop_shared_memory(data / "postmaster.pid")
    shutil.rmtree(base, ignore_errors=True)
    if base.exists():
        problems.append(f"could not remove {base}")
    return problems


def main(argv: list[str]) -> int:
    """``reaper.py BASE BIN_DIR AS_POSTGRES``: wait for EOF on stdin, then :func:`reap`."""
    base, bin_dir, as_postgres = Path(argv[0]), Path(argv[1]), argv[2] == "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the pipe ends our wait
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # EOF (or a broken pipe): the owner is gone, or done
        while os.read(0, 4096):
            pass
    problems = reap(base, bin_dir, as_postgres)
    for problem in problems:
        with contextlib.suppress(OSError):
            print(f"poolwarden reaper: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
