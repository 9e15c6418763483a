"""Serving the test Django project (``tests/djrt_site``) for real: gunicorn (WSGI) or uvicorn (ASGI).

:func:`serve` starts the server in a subprocess with the project's settings taken from ``env``
(``DJRT_*``, see ``tests/djrt_site/__init__.py``), waits (bounded) until it answers, yields its
base URL and stops it on exit: every connection its workers held is closed with them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from poolwarden.testing.cluster import free_port

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, bound: float = 60.0) -> None:
    """Send ``sig`` to a server or worker and wait for it, at most ``bound`` seconds; then kill it
    (its whole process group when it leads one: the workers it forked go with it)."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (PermissionError, ProcessLookupError):  # not a group leader: the process alone
            proc.kill()
        proc.wait(timeout=30)


def command(kind: str, port: int, *extra: str) -> list[str]:
    """The command line serving the project: ``kind`` is ``gunicorn`` (WSGI) or ``uvicorn`` (ASGI)."""
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                *extra, "djrt_site.wsgi"]
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "djrt_site.asgi:application", "--host", "127.0.0.1", "--port",
                str(port), "--log-level", "warning", *extra]
    raise ValueError(kind)


def site_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a process running the project from this tree (not an installed poolwarden)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src")]),
            "DJANGO_SETTINGS_MODULE": "djrt_site.settings", **env}


@contextlib.contextmanager
def serve(kind: str, env: Mapping[str, str], *extra: str, bound: float = 30.0) -> Iterator[str]:
    """Serve the project under ``kind`` with ``env``; yields ``http://127.0.0.1:<port>``."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command(kind, port, *extra), cwd=TESTS, env=site_env(env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + bound
            with httpx.Client(timeout=5) as client:
                while True:  # wait for the listener (bounded)
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise AssertionError(f"{kind} did not start:\n{log.read().decode(errors='replace')[-3000:]}")
                    try:
                        client.get(f"{url}/crash")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
            yield url
        finally:
            stop(proc)
