"""Starting the application under drill (``--app CMD``), waiting until it answers, stopping it."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from poolwarden.drill.targets import HttpTarget
from poolwarden.dsn import mask
from poolwarden.errors import UsageError

__all__ = ["launched"]


@contextlib.contextmanager
def launched(command: str | list[str], *, cwd: str | None, env: Mapping[str, str], ready: HttpTarget | None,
             timeout: float, log_path: str | None = None,
             secrets: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (its own process group) until the block ends; wait for ``ready`` to answer.

    Raises :class:`UsageError` (with the tail of the app's output) when it exits early or does not
    answer within ``timeout`` seconds; ``secrets`` (the database password) never appear in it.
    The app's output goes to ``log_path`` (kept) or a temporary file (removed).
    """
    if cwd is not None and not Path(cwd).is_dir():
        raise UsageError(f"--app-cwd {cwd}: not a directory")
    log: IO[bytes]
    if log_path is not None:
        log = open(log_path, "wb")  # noqa: SIM115
    else:
        log = tempfile.NamedTemporaryFile(prefix="poolwarden-drill-app-", suffix=".log", delete=False)  # noqa: SIM115
    try:
        argv = shlex.split(command) if isinstance(command, str) else command
        proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        log.close()
        if log_path is None:
            with contextlib.suppress(OSError):
                os.unlink(log.name)
        raise UsageError(f"--app {mask(shlex.join(argv))}: {exc.strerror or exc}") from None
    try:
        _wait_ready(proc, ready, timeout, Path(log.name), secrets)
        yield proc
    finally:
        _stop(proc)
        log.close()
        if log_path is None:
            with contextlib.suppress(OSError):
                os.unlink(log.name)


def _tail(path: Path, secrets: tuple[str, ...]) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    text = mask(" | ".join(line.strip() for line in lines[-3:]))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text or "(no output)"


def _wait_ready(proc: subprocess.Popen[bytes], ready: HttpTarget | None, timeout: float, log: Path,
                secrets: tuple[str, ...]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise UsageError(f"--app exited with {proc.returncode} before answering: {_tail(log, secrets)}")
        if ready is None:
            return
        try:
            ready(2.0)
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise UsageError(f"--app did not answer {mask(ready.url)} within {timeout:g} s: {_tail(log, secrets)}")
        time.sleep(0.1)  # polling a starting server; bounded by the deadline above


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
