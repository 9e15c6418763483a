"""``--diff REV``: the lines changed since a git revision, to report only findings on them.

The repository is the one holding the checked paths (not the current directory's). In a
repository with no commits yet, ``HEAD`` names nothing: every file is new, so every finding is
kept. A revision git does not know, or a path outside any repository, is a one-line
:class:`UsageError`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from poolwarden.check.finding import Finding
from poolwarden.errors import UsageError

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)

#: Absolute path -> changed line numbers (None: the whole file is new or untracked).
Changes = dict[str, "set[int] | None"]


def changed_lines_for(rev: str, targets: Iterable[str | os.PathLike[str]]) -> Changes:
    """The changes since ``rev`` in the repositories holding ``targets`` (files or directories)."""
    out: Changes = {}
    tops: set[str] = set()
    for target in targets:
        path = Path(os.path.abspath(target))
        directory = path if path.is_dir() else path.parent
        top = _toplevel(directory)
        if top not in tops:
            tops.add(top)
            out.update(changed_lines(rev, Path(top)))
    return out


def only_changed(findings: Iterable[Finding], changed: Changes) -> list[Finding]:
    """The findings whose anchor touches a changed line (any line of a new or untracked file)."""
    kept = []
    for f in findings:
        lines = changed.get(os.path.abspath(f.path))
        if lines is None and os.path.abspath(f.path) not in changed:
            lines = changed.get(os.path.realpath(f.path), set())
        if lines is None or any(n in lines for n in range(f.line, f.end_line + 1)):
            kept.append(f)
    return kept


def changed_lines(rev: str, cwd: Path | None = None) -> Changes:
    """Absolute path -> changed line numbers since ``rev`` in the repository holding ``cwd``
    (default: the current directory); None for a file that is wholly new or untracked.

    Raises :class:`UsageError` when git is missing, this is not a repository, or ``rev`` is unknown.
    """
    top = Path(_toplevel(cwd or Path.cwd()))
    if not _is_commit(rev, top):
        if rev in ("HEAD", "@") and not _is_commit("HEAD", top) and _unborn(top):
            return _everything_new(top)
        raise UsageError(f"--diff: unknown revision {rev!r}")
    out: Changes = {}
    diff = _git(["diff", "--unified=0", "--no-color", "--no-ext-diff", "--relative=",
                 rev, "--"], top)
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = _unquote(line[4:])
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
    untracked = _git(["-c", "core.quotepath=off", "ls-files", "-z", "--others", "--exclude-standard"], top)
    for name in untracked.split("\0"):
        if name:
            out[os.path.normpath(os.path.join(top, name))] = None
    return out


def _toplevel(directory: Path) -> str:
    return _git(["rev-parse", "--show-toplevel"], directory).strip()


def _is_commit(rev: str, top: Path) -> bool:
    if rev.startswith("-"):
        return False  # never an option to git
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=top,
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--diff needs git, which is not on PATH") from None
    return proc.returncode == 0


def _unborn(top: Path) -> bool:
    """Whether the repository has no commit yet (HEAD names a branch that does not exist)."""
    try:
        proc = subprocess.run(["git", "symbolic-ref", "--quiet", "HEAD"], cwd=top,
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--diff needs git, which is not on PATH") from None
    return proc.returncode == 0


def _everything_new(top: Path) -> Changes:
    names = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], top)
    return {os.path.normpath(os.path.join(top, name)): None for name in names.split("\0") if name}


def _unquote(name: str) -> str:
    """A path as ``git diff`` prints it: C-quoted (``"b/caf\\303\\251.py"``) when unusual."""
    if not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    return os.fsdecode(raw)


def _git(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              errors="surrogateescape")
    except FileNotFoundError:
        raise UsageError("--diff needs git, which is not on PATH") from None
    except OSError as exc:
        raise UsageError(f"--diff: cannot run git in {cwd}: {exc.strerror}") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UsageError(f"--diff: {msg}")
    return proc.stdout
