"""Which files ``poolwarden check`` reads: discovery under the paths given.

Promises: every ``*.py`` / ``*.pyi`` file under a directory argument is yielded once, in a
stable (sorted) order, except those under a directory named in :data:`DEFAULT_EXCLUDE`
(the same virtual-environment, build and cache folders ruff skips) or matched by the
configured ``exclude`` globs. A file named explicitly is always checked, whatever its suffix.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

DEFAULT_EXCLUDE: frozenset[str] = frozenset(
    {
        ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
        ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
        ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "__pycache__", "_build",
        "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
        ".poolwarden_cache",
    }
)

PYTHON_SUFFIXES = (".py", ".pyi")


def _excluded(rel_posix: str, name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel_posix, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(paths: Iterable[str | os.PathLike[str]], exclude: Iterable[str] = ()) -> Iterator[Path]:
    """Yield the Python files under ``paths``.

    ``exclude`` holds extra glob patterns, matched against a file's or directory's name
    and against its path relative to the argument it was found under.
    Raises :class:`FileNotFoundError` naming the first path that does not exist.
    """
    patterns = tuple(exclude)
    seen: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise FileNotFoundError(str(raw))
        if root.is_file():
            if root not in seen:
                seen.add(root)
                yield root
            continue
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in DEFAULT_EXCLUDE
                and not d.endswith(".egg-info")
                and not _excluded(rel_dir + d, d, patterns)
            )
            for name in filenames:
                if name.endswith(PYTHON_SUFFIXES) and not _excluded(rel_dir + name, name, patterns):
                    found.append(Path(dirpath, name))
        for path in sorted(found):
            if path not in seen:
                seen.add(path)
                yield path
