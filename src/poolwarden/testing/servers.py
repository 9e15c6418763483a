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
