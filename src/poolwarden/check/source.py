"""Reading a Python file for analysis: one code path for every way it can fail.

:func:`load` reads, decodes and parses one file and returns either :class:`Parsed` (the tree and
its bytes) or a typed :class:`Failure` — never raises for bad input. ``check`` turns a failure into
a ``PW000`` finding, ``budget --code`` into a "skipped" note; both use this module, so a file one
of them rejects the other rejects the same way.

Promises:

- only a regular file is ever read: a FIFO, socket or device is opened non-blocking (so opening
  cannot hang) and refused after an ``fstat`` of the open descriptor (so a file swapped for a FIFO
  after discovery is refused too);
- at most ``max_size + 1`` bytes are read: a file over the limit is refused without reading it;
- nothing in the file is executed (``ast.parse`` only), and warnings the parse raises are muted.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Literal

from poolwarden.check import regular
from poolwarden.check.regular import file_kind

#: Default per-file size limit (``max-file-size`` in ``[tool.poolwarden.check]``): 1 MiB.
DEFAULT_MAX_FILE_SIZE = 1024 * 1024

FailureKind = Literal["syntax", "undecodable", "nul", "too-deep", "too-big", "not-regular", "unreadable"]

_GRAMMAR = f"Python {sys.version_info[0]}.{sys.version_info[1]} grammar"
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a file could not be analysed, with the position to report it at (1-based)."""

    kind: FailureKind
    message: str  # one line, e.g. "cannot read: Permission denied"
    line: int = 1
    col: int = 1


@dataclass(frozen=True, slots=True)
class Parsed:
    """A file that parsed: its bytes and its tree."""

    source: bytes
    tree: ast.Module


def line_count(source: bytes) -> int:
    """Lines in ``source`` (a last line without a newline counts)."""
    return source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)


def not_regular(mode: int) -> Failure:
    return Failure("not-regular", f"skipped: not a regular file (a {file_kind(mode)})")


def too_big(size: int, max_size: int) -> Failure:
    return Failure("too-big", f"skipped: {size:,} bytes, over the {max_size:,}-byte limit (max-file-size)")


def unreadable(exc: OSError) -> Failure:
    return Failure("unreadable", f"cannot read: {exc.strerror or exc}")


def read(path: str | os.PathLike[str], max_size: int = DEFAULT_MAX_FILE_SIZE) -> bytes | Failure:
    """The bytes of a regular file of at most ``max_size`` bytes (0: no limit), or why not."""
    got = regular.read(path, max_size)
    if isinstance(got, bytes):
        return got
    if isinstance(got, OSError):
        return unreadable(got)
    refusal, number = got
    return not_regular(number) if refusal == "not-regular" else too_big(number, max_size)


def parse(source: bytes, filename: str) -> Parsed | Failure:
    """Decode (PEP 263) and parse ``source``; a failure says which of syntax, encoding, NUL, depth."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are the user's compiler's business, not ours
            tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return _syntax_failure(exc)
    except ValueError as exc:  # "source code string cannot contain null bytes" (older Pythons)
        if "null bytes" in str(exc):
            return Failure("nul", "cannot parse: source contains null bytes")
        return Failure("syntax", f"cannot parse: {_one_line(str(exc))}")
    except UnicodeDecodeError as exc:
        return Failure("undecodable", f"cannot decode: {exc.reason}")
    except (RecursionError, MemoryError):
        return Failure("too-deep", "cannot analyse: nesting too deep to parse")
    return Parsed(source, tree)


def _syntax_failure(exc: SyntaxError) -> Failure:
    msg = _one_line(exc.msg or "invalid syntax")
    if "null bytes" in msg:
        return Failure("nul", "cannot parse: source contains null bytes")
    if msg.startswith("(unicode error)") or "codec can't decode" in msg or "encoding" in msg:
        return Failure("undecodable", f"cannot decode: {msg}", max(exc.lineno or 1, 1), 1)
    if "too many nested parentheses" in msg or "too many levels of indentation" in msg:
        kind: FailureKind = "too-deep"
    else:
        kind = "syntax"
    return Failure(kind, f"cannot parse ({_GRAMMAR}): {msg}", max(exc.lineno or 1, 1), max(exc.offset or 1, 1))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load(path: str | os.PathLike[str], max_size: int = DEFAULT_MAX_FILE_SIZE) -> Parsed | Failure:
    """Read, decode and parse one file: the tree, or a typed failure. Never raises for bad input."""
    data = read(path, max_size)
    if isinstance(data, Failure):
        return data
    return parse(data, os.fspath(path))


def parse_size(value: object) -> int:
    """A size setting: an integer number of bytes or a string such as ``"2MB"`` / ``"512KiB"``.

    Raises :class:`ValueError` (with a message for the user) for anything else; 0 means no limit.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number of bytes or a size such as \"2MB\"")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        size = int(m.group(1)) * _UNITS[(m.group(2) or "").lower()]
    else:
        raise ValueError("must be a number of bytes or a size such as \"2MB\"")
    if size < 0 or size > 1 << 40:
        raise ValueError("must be between 0 (no limit) and 1TiB")
    return size
