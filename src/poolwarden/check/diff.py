"""``--diff REV``: the lines changed since a git revision, to report only findings on them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from poolwarden.errors import UsageError

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


def changed_lines(rev: str, cwd: Path | None = None) -> dict[str, set[int] | None]:
    """Absolute path -> changed line numbers since ``rev`` (None: the whole file is new/untracked).

    Raises :class:`UsageError` when git is missing, this is not a repository, or ``rev`` is unknown.
    """
    cwd = cwd or Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], cwd).strip()
    _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd, what=f"unknown revision '{rev}'")
    out: dict[str, set[int] | None] = {}
    diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--relative=", rev, "--"], Path(top))
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            current = None if name == "/dev/null" else os.path.normpath(os.path.join(top, name[2:]))
            if current is not None:
                out.setdefault(current, set())
        elif line.startswith("@@") and current is not None:
            m = _HUNK.match(line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) or "1")
                lines = out[current]
                if lines is not None:
                    lines.update(range(start, start + count))
    untracked = _git(["ls-files", "--others", "--exclude-standard"], Path(top))
    for name in untracked.splitlines():
        out[os.path.normpath(os.path.join(top, name))] = None
    return out


def _git(args: list[str], cwd: Path, what: str | None = None) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--diff needs git, which is not on PATH") from None
    if proc.returncode != 0:
        msg = what or (proc.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UsageError(f"--diff: {msg}")
    return proc.stdout
