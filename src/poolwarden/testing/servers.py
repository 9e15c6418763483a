"""The server processes the fixtures run (PgBouncer, Prometheus): where their executables are, and how
they end. One search order and one way to stop, for every one of them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def find_binary(name: str, env_var: str, candidates: tuple[str, ...]) -> str:
    """The ``name`` executable: ``$env_var``, then PATH, then ``candidates`` (the Debian locations).
    Raises FileNotFoundError naming every place tried and how to install it."""
    tried = []
    for candidate in (os.environ.get(env_var), shutil.which(name), *candidates):
        if candidate and Path(candidate).is_file():
            return candidate
        if candidate:
            tried.append(candidate)
    raise FileNotFoundError(f"{name} not found; tried PATH, {', '.join(tried)}. Install Debian's `{name}` "
                            f"package (scripts/system-deps) or set {env_var}.")


def end_process(process: subprocess.Popen[bytes] | subprocess.Popen[str] | None, grace: float = 10.0) -> None:
    """End ``process`` if it still runs: SIGTERM, then SIGKILL after ``grace`` seconds; reaped either way."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def dying_with_parent(cmd: list[str]) -> list[str]:
    """``cmd`` run so that it gets SIGTERM when the process that starts it ends (Linux: util-linux's
    ``setpriv --pdeathsig``, kept across its exec), so a killed test run leaves no server behind.
    No ``preexec_fn``: that is unsafe in a process with threads. Without ``setpriv``, ``cmd`` as is."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else list(cmd)
