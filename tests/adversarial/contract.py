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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: ``POOLWARDEN_FUZZ_SCALE`` multiplies the number of generated inputs that each cost a process
#: (a CLI run): ``make test`` keeps the default; a deeper hunt sets e.g. ``POOLWARDEN_FUZZ_SCALE=10``.
FUZZ_SCALE = float(os.environ.get("POOLWARDEN_FUZZ_SCALE", "1") or "1")


#: suite -> {family of inputs: how many were thrown}; pytest's terminal summary prints it
#: (tests/adversarial/conftest.py), the figure the issue's closing note quotes.
THROWN: dict[str, Counter[str]] = {}


def thrown(suite: str) -> Counter[str]:
    """The counter a suite increments once per generated input it throws."""
    return THROWN.setdefault(suite, Counter())


def scaled(n: int) -> int:
    """``n`` generated inputs, times ``POOLWARDEN_FUZZ_SCALE`` (at least 1)."""
    return max(1, round(n * FUZZ_SCALE))


#: Secrets the suites put in DSNs, environments and files; none may ever be printed.
SECRETS = ("hunter2", "Pa%ssw0rd", "s3cr3t", "ter2", "sslpw-XYZ")


def run(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, stdin: str | None = None,
        timeout: float = 60.0, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m poolwarden ARGS`` as a user would, bounded by ``timeout`` seconds and, with
    ``memory``, by that many bytes of address space (``RLIMIT_AS``): a blow-up fails fast."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "poolwarden", *args], cwd=cwd or ROOT, env=full_env,
                          input=stdin, capture_output=True, text=True, check=False, timeout=timeout,
                          errors="replace", preexec_fn=_address_space(memory) if memory else None)


def _address_space(limit: int) -> Callable[[], None]:
    def cap() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return cap


def invoke(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in this process (click's runner): :func:`run`'s contract at a fraction of its cost,
    for generated inputs by the hundred. An exception that escapes the CLI is put in stderr as a
    traceback, so that :func:`assert_clean_failure` fails on it."""
    import traceback

    from click.testing import CliRunner

    from poolwarden.cli import main

    result = CliRunner().invoke(main, list(args), env=dict(env or {}), catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["poolwarden", *args], result.exit_code, result.stdout, stderr)


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


def _leftovers(tmpdir: str | os.PathLike[str] | None) -> set[str]:
    return set(glob.glob(os.path.join(tmpdir or tempfile.gettempdir(), "poolwarden-*")))


@contextmanager
def nothing_left_behind(tmpdir: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Fail when the block leaves a new ``poolwarden-*`` file or directory in ``tmpdir`` (default: the
    system's temporary directory). Other test runs share /tmp: give the command a private ``TMPDIR``
    (see :func:`private_tmp`) and check that."""
    before = _leftovers(tmpdir)
    yield
    left = _leftovers(tmpdir) - before
    assert not left, f"left behind: {sorted(left)}"


@contextmanager
def private_tmp() -> Iterator[str]:
    """A private temporary directory for a command's ``TMPDIR`` (and, in this process, ``tempfile``'s),
    traversable by the ``postgres`` user a throwaway cluster runs as; removed afterwards."""
    import shutil

    path = tempfile.mkdtemp(prefix="pw-adversarial-")
    os.chmod(path, 0o755)
    saved = tempfile.tempdir
    tempfile.tempdir = path
    try:
        yield path
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(path, ignore_errors=True)


def netns_unavailable(*tools: str) -> str | None:
    """Why a probe cannot run in its own network namespace here (``unshare -n -m``, as root, with
    ``ip`` and ``tools`` on PATH), or None when it can."""
    import shutil

    needed = ("unshare", "ip", *tools)
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in needed):
        return f"needs root and {', '.join(needed)}"
    proc = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, check=False, timeout=30)
    return None if proc.returncode == 0 else f"unshare -n -m fails here: {proc.stderr.decode()[:200]}"


def run_in_netns(probe: Path | str, stdin: str, *args: str, timeout: float,
                 binds: dict[str, Path] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the Python script ``probe`` (a path; a string is code for ``-c``), with ``args``, as root in a
    new network and mount namespace (only ``lo``, down: no packet leaves the machine), with ``src``
    and the repository importable. ``binds`` maps files such as ``/etc/nsswitch.conf`` to the files
    bind-mounted over them inside the namespace only."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    python = [sys.executable, *(["-c", probe] if isinstance(probe, str) else [str(probe)]), *args]
    mounts = [arg for target, source in (binds or {}).items() for arg in (str(source), target)]
    # sh binds each (source, target) pair given as its arguments, then runs the rest.
    script = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"'
    return subprocess.run(["unshare", "-n", "-m", "--", "sh", "-c", script, "sh", *mounts, "--", *python],
                          input=stdin, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=ROOT)


# -- files a command writes and reads back (caches, memos), crafted ----------------------------------
#: How :func:`crafted_json` damages a JSON file.
CRAFTED_JSON = ("random", "truncated", "mutated", "deep", "huge", "pickle")


class Payload:
    """Unpickling this creates the file ``path`` (a canary): a crafted file that gets unpickled shows."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.path}",))


def json_values() -> Any:
    """A hypothesis strategy for any JSON value (floats and integers past 2**53 included)."""
    from hypothesis import strategies as st

    return st.recursive(
        st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
        max_leaves=40,
    )


def crafted_json(kind: str, genuine: bytes, data: Any, *, canary: Path, deep_head: bytes,
                 mutate: Callable[[Any, Any], None]) -> bytes:
    """``genuine`` (a JSON file a command wrote and reads back) crafted as ``kind`` (one of
    :data:`CRAFTED_JSON`) with hypothesis's ``data``: random JSON, a truncated copy, a copy where
    ``mutate(doc, data)`` put a value of the wrong type, nesting 1,000 to 200,000 deep after
    ``deep_head``, a huge number, or a pickle whose loading would create ``canary``."""
    import json
    import pickle

    from hypothesis import strategies as st

    if kind == "random":
        return json.dumps(data.draw(json_values())).encode()
    if kind == "truncated":
        return genuine[: data.draw(st.integers(0, len(genuine) - 1))]
    if kind == "mutated":
        doc = json.loads(genuine)
        mutate(doc, data)
        return json.dumps(doc).encode()
    if kind == "deep":
        depth = data.draw(st.integers(1000, 200_000))
        return deep_head + b"[" * depth + b"]" * depth + b"}"
    if kind == "huge":
        return genuine.replace(b"[", b"[" + b"9" * data.draw(st.integers(20, 20_000)) + b",", 3)
    assert kind == "pickle", kind
    return pickle.dumps(Payload(str(canary)))


def budget_toml(max_connections: int, services: Mapping[str, tuple[int, int]]) -> str:
    """A ``poolwarden.toml`` with ``[budget]``: ``max_connections`` and one service per entry of
    ``services`` (name -> (pool_size, max_overflow)), one replica, one process, one pool each."""
    lines = ["[budget]", f"max_connections = {max_connections}"]
    for name, (pool_size, max_overflow) in services.items():
        lines += ["[[budget.service]]", f"name = {name!r}".replace("'", '"'), "[[budget.service.pool]]",
                  f"pool_size = {pool_size}", f"max_overflow = {max_overflow}"]
    return "\n".join(lines) + "\n"
