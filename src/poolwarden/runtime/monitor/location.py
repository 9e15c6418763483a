"""Where a connection was checked out: the first frames outside the database libraries (and
outside Django and asgiref, whose ORM and bridges stand between a view and the pool).

Capture is cheap enough to leave on: it walks the live frame chain (no traceback objects, no
source lines) and keeps ``(code, line)`` pairs; file names and function names are read only when
a report is written. Inside SQLAlchemy's asyncio bridge the chain continues from the greenlet
into the awaiting coroutine, so async code is located as precisely as sync code.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import CodeType, FrameType

__all__ = ["Location", "RawLocation", "capture"]

# Frames from these packages are the machinery between the caller and the pool, never the caller.
_LIBRARY_ROOTS = ("sqlalchemy", "psycopg", "psycopg_pool", "psycopg2", "asyncpg", "greenlet", "asyncio",
                  "concurrent", "contextlib", "threading", "selectors", "functools")
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # poolwarden/runtime
# Frameworks between the caller and the pool, told by their installed directory (not by a directory
# name, which a project called "django" would share): Django's ORM and backends, asgiref's bridges.
_FRAMEWORKS = ("django", "asgiref")
# id(code) -> (verdict, code): keyed by id because hashing a code object hashes its bytecode and
# constants; the code object is kept alive by the entry, so its id is never reused.
_library_cache: dict[int, tuple[bool, CodeType]] = {}


def _framework_dirs() -> tuple[str, ...]:
    """The installed directories of :data:`_FRAMEWORKS` (found, not imported)."""
    import importlib.util

    dirs = []
    for name in _FRAMEWORKS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.join(os.path.abspath(location), ""))
    return tuple(dirs)


_framework_dir_cache: list[tuple[str, ...]] = []


def _is_library(code: CodeType) -> bool:
    known = _library_cache.get(id(code))
    if known is not None:
        return known[0]
    path = code.co_filename
    parts = path.replace("\\", "/").split("/")
    if not _framework_dir_cache:
        _framework_dir_cache.append(_framework_dirs())
    verdict = path.startswith(_OWN_DIR) or path.startswith("<frozen") or any(
        root in parts[:-1] or parts[-1] == root + ".py" for root in _LIBRARY_ROOTS
    ) or path.startswith(_framework_dir_cache[0])
    _library_cache[id(code)] = (verdict, code)
    return verdict


@dataclass(frozen=True)
class Location:
    """A checkout site: the caller's frames, innermost first, as ``(file, line, function)``."""

    frames: tuple[tuple[str, int, str], ...]

    @property
    def file(self) -> str:
        return self.frames[0][0] if self.frames else "<unknown>"

    @property
    def line(self) -> int:
        return self.frames[0][1] if self.frames else 0

    @property
    def function(self) -> str:
        return self.frames[0][2] if self.frames else "<unknown>"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}()"

    def format_stack(self) -> str:
        """The captured frames, outermost last, one per line, like a traceback's tail."""
        return "\n".join(f'  File "{f}", line {n}, in {fn}' for f, n, fn in self.frames)


def _line(code: CodeType, lasti: int) -> int:
    """The source line of the instruction at byte offset ``lasti`` (what ``frame.f_lineno`` computes)."""
    for start, end, line in code.co_lines():
        if start <= lasti < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


class RawLocation:
    """Captured frames before formatting: ``(code, instruction offset)`` pairs (cheap to take and keep;
    line numbers are worked out only when a report is written)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: tuple[tuple[CodeType, int], ...]) -> None:
        self.pairs = pairs

    def resolve(self) -> Location:
        return Location(tuple((c.co_filename, _line(c, i), c.co_name) for c, i in self.pairs))


def _parent_frame() -> FrameType | None:
    """The frame a SQLAlchemy greenlet was spawned from (the awaiting coroutine), if any."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    current = greenlet.getcurrent()
    parent = getattr(current, "parent", None)
    return getattr(parent, "gr_frame", None) if parent is not None else None


def capture(depth: int = 3, *, limit: int = 64) -> RawLocation:
    """The innermost ``depth`` frames outside the libraries, from the current call stack."""
    frame: FrameType | None = sys._getframe(1)
    pairs: list[tuple[CodeType, int]] = []
    cache = _library_cache
    crossed = False
    seen = 0
    while seen < limit:
        if frame is None:
            if crossed:
                break
            crossed = True
            frame = _parent_frame()
            if frame is None:
                break
        code = frame.f_code
        known = cache.get(id(code))
        if not (known[0] if known is not None else _is_library(code)):
            pairs.append((code, frame.f_lasti))
            if len(pairs) >= depth:
                break
        frame = frame.f_back
        seen += 1
    return RawLocation(tuple(pairs))
