"""Which files take part in a database story, and under which module names.

:func:`module_name` names a file as Python's import system would (packages by ``__init__.py``,
namespace portions inside a package by PEP 420). :func:`prescan` reads every file's raw text once,
before any is parsed: the files worth walking are DB code, its importers (transitively), what they
import, event-loop code with its direct importers and Django settings modules; the files that
import DB code directly are walked knowing it. A big tree is pre-scanned by worker processes.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from poolwarden.check import knowledge as K
from poolwarden.check import source as S

if TYPE_CHECKING:
    from concurrent.futures import Executor

_IMPORT_RE = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]+))",
    re.M,
)

def module_name(path: Path) -> tuple[str, bool, str]:
    """The dotted module name of ``path`` (climbing ``__init__.py`` packages), whether it is a
    package, and its root: the directory the top-level package lives in."""
    path = Path(os.path.abspath(path))
    is_package = path.stem == "__init__"
    package, root = _package_of(str(path.parent))
    parts = [p for p in (package, "" if is_package else path.stem) if p]
    return ".".join(parts), is_package, root


@functools.lru_cache(maxsize=4096)
def _package_of(directory: str) -> tuple[str, str]:
    """(dotted package name, root) of a directory; memoised: siblings share the climb.

    A directory without ``__init__.py`` inside a regular package is a namespace portion of it
    (PEP 420: ``onyx/onyxbot/slack/utils.py`` under ``onyx/__init__.py`` imports as
    ``onyx.onyxbot.slack.utils``); one with no package above it is a root.
    """
    if not (_is_regular_package(directory) or _package_above(directory)):
        return "", directory
    parent = os.path.dirname(directory)
    if parent == directory:
        return os.path.basename(directory), directory
    package, root = _package_of(parent)
    name = os.path.basename(directory)
    return (f"{package}.{name}" if package else name), root


def _is_regular_package(directory: str) -> bool:
    return (os.path.exists(os.path.join(directory, "__init__.py"))
            or os.path.exists(os.path.join(directory, "__init__.pyi")))


@functools.lru_cache(maxsize=4096)
def _package_above(directory: str) -> bool:
    """Whether some directory above ``directory`` is a regular package."""
    parent = os.path.dirname(directory)
    if parent == directory:
        return False
    return _is_regular_package(parent) or _package_above(parent)


_DB, _LOOP, _SETTINGS, _POOLER = 1, 2, 4, 8


def _package(path: Path, module: str) -> str:
    return module if path.stem == "__init__" else module.rpartition(".")[0]


def _scan(job: tuple[str, str, int]) -> tuple[int, list[str]] | None:
    """One file's pre-scan facts (runs in a worker): DB / event-loop / settings flags and the modules
    it imports; None for a file that cannot be read."""
    path, package, max_size = job
    text = S.read(path, max_size)
    if isinstance(text, S.Failure):
        return None
    flags = 0
    if _holds(text, K.DB_TOKEN_WORDS) and K.DB_TOKENS.search(text):
        flags |= _DB
    if _holds(text, K.LOOP_TOKEN_WORDS) and K.LOOP_TOKENS.search(text):
        flags |= _LOOP
    if _holds(text, K.SETTINGS_TOKEN_WORDS) and K.SETTINGS_TOKENS.search(text):
        flags |= _SETTINGS
    if _holds(text, K.POOLER_TOKEN_WORDS):
        flags |= _POOLER  # may say the project runs behind a transaction pooler (PW111)
    return flags, list(_imported_modules(text, package))


def prescan(paths: Sequence[Path], modules: dict[Path, str], roots: dict[Path, str],
             max_size: int, pool: Executor | None = None) -> tuple[set[Path], set[Path]]:
    """The files worth walking — DB code, its importers (transitively), what they import,
    event-loop code with its direct importers, Django settings modules and modules that may say the
    project runs behind a transaction pooler — and the files that
    import DB code directly."""
    db_seed: set[Path] = set()
    loop: set[Path] = set()
    settings: set[Path] = set()
    imports: dict[Path, set[str]] = {}
    scan_jobs = [(str(path), _package(path, modules[path]), max_size) for path in paths]
    scanned = pool.map(_scan, scan_jobs, chunksize=64) if pool is not None else map(_scan, scan_jobs)
    for path, facts in zip(paths, scanned, strict=True):
        if facts is None:
            continue
        flags, import_names = facts
        if flags & _DB:
            db_seed.add(path)
        if flags & _LOOP:
            loop.add(path)
        if flags & (_SETTINGS | _POOLER):
            settings.add(path)  # a Django settings module: its DATABASES are PW106's; pooler signals PW111's
        imports[path] = set(import_names)
    by_module = {(roots[p], m): p for p, m in modules.items()}
    importers: dict[Path, set[Path]] = {}
    imported: dict[Path, set[Path]] = {}
    for path, names in imports.items():
        for name in names:
            target = by_module.get((roots[path], name))
            if target is not None and target != path:
                importers.setdefault(target, set()).add(path)
                imported.setdefault(path, set()).add(target)
    up = _closure(db_seed, importers)
    down = _closure(up, imported)
    # Event-loop code plus its direct importers (where a bridge decorator gets applied).
    loop_users = {user for path in loop for user in importers.get(path, ())}
    db_near = {user for path in db_seed for user in importers.get(path, ())} - db_seed
    return down | loop | loop_users | settings, db_near


def _holds(text: bytes, words: tuple[bytes, ...]) -> bool:
    """Whether ``text`` contains one of ``words``: the cheap test before a pattern that needs one."""
    return any(word in text for word in words)


def _closure(start: set[Path], edges: dict[Path, set[Path]]) -> set[Path]:
    seen = set(start)
    stack = list(start)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _imported_modules(text: bytes, package: str) -> set[str]:
    found: set[str] = set()
    for m in _IMPORT_RE.finditer(text):
        if m.group(3) is not None:
            for part in m.group(3).split(b","):
                name = part.strip().split()[0] if part.strip() else b""
                if name:
                    found.add(name.decode("ascii", "replace"))
            continue
        base = m.group(1).decode("ascii", "replace")
        level = len(base) - len(base.lstrip("."))
        base = base.lstrip(".")
        if level:
            pkg = package
            for _ in range(level - 1):
                pkg = pkg.rpartition(".")[0]
            base = f"{pkg}.{base}".strip(".") if base else pkg
        found.add(base)
        for part in m.group(2).strip(b"()").split(b","):
            name = part.strip().split()[0] if part.strip() else b""
            if name and name != b"*":
                found.add(f"{base}.{name.decode('ascii', 'replace')}".strip("."))
    return found
