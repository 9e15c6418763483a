"""The contract every command keeps under bad input, asserted the same way by every adversarial suite.

Bad input gets a clear answer: exit 2, exactly one ``poolwarden: error: …`` line on stderr, no
traceback anywhere, no secret anywhere (stdout, stderr, files written), nothing left behind
(``/tmp/poolwarden-*`` directories, child processes).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Secrets the suites put in DSNs, environments and files; none may ever be printed.
SECRETS = ("hunter2", "Pa%ssw0rd", "s3cr3t", "ter2", "sslpw-XYZ")


def run(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, stdin: str | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``python -m poolwarden ARGS`` as a user would, bounded by ``timeout`` seconds."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "poolwarden", *args], cwd=cwd or ROOT, env=full_env,
                          input=stdin, capture_output=True, text=True, check=False, timeout=timeout,
                          errors="replace")


def assert_clean_failure(proc: subprocess.CompletedProcess[str], *, contains: str | Iterable[str] = (),
                         secrets: Iterable[str] = SECRETS) -> str:
    """Exit 2, one ``poolwarden: error:`` line (progress lines of a long command may precede it), no
    traceback, no secret. Returns the error line."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    for secret in secrets:
        assert secret not in out, f"secret {secret!r} printed:\n{out}"
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("poolwarden: error:")]
    assert len(errors) == 1, proc.stderr
    others = [line for line in proc.stderr.splitlines()
              if line.strip() and not line.startswith(("poolwarden: error:", "drill: "))]
    assert not others, proc.stderr
    for needle in [contains] if isinstance(contains, str) else contains:
        assert needle in errors[0], errors[0]
    return errors[0]


def assert_no_secret(text: str, secrets: Iterable[str] = SECRETS) -> None:
    """``text`` (output, a written report, a log) names none of ``secrets``."""
    for secret in secrets:
        assert secret not in text, f"secret {secret!r} in:\n{text}"


def _leftovers(tmpdir: Path | None = None) -> set[str]:
    return set(glob.glob(os.path.join(tmpdir or tempfile.gettempdir(), "poolwarden-*")))


@contextmanager
def nothing_left_behind(tmpdir: Path | None = None) -> Iterator[None]:
    """Fail when the block leaves a new ``/tmp/poolwarden-*`` file or directory behind.

    With ``tmpdir``, look there instead: give the command ``TMPDIR=tmpdir`` so that what other
    tests running at the same time leave in ``/tmp`` cannot be mistaken for its leftovers."""
    before = _leftovers(tmpdir)
    yield
    left = _leftovers(tmpdir) - before
    assert not left, f"left behind: {sorted(left)}"
