"""poolwarden's one configuration: ``[tool.poolwarden.<section>]`` in pyproject.toml, or
``[<section>]`` in poolwarden.toml. Each command reads its own section (``check``, ``budget``,
``engine``) and validates it; this module finds and reads the file, and refuses a section it
does not know (``[tool.poolwarden.chek]``), so that a typo never silently drops settings."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from poolwarden.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: The sections of the configuration, one per command that reads one.
SECTIONS = ("check", "budget", "engine")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``candidates``, or ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file. Raises :class:`UsageError` (one line, naming the file) when it cannot."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None


def _tool(data: dict[str, Any]) -> Any:
    """``[tool.poolwarden]`` of a pyproject.toml, or None (also when ``tool`` is not a table)."""
    tool = data.get("tool")
    return tool.get("poolwarden") if isinstance(tool, dict) else None


def section(path: Path, name: str) -> tuple[Any, str]:
    """The ``name`` table of ``path`` (None when absent) and how to call it in messages.

    Raises :class:`UsageError` naming the file and the key when the poolwarden table holds a
    section that is not one of :data:`SECTIONS` (with a "did you mean" when one is close)."""
    data = read_toml(path)
    if path.name == "pyproject.toml":
        table = _tool(data)
        if table is None:
            table = {}
        where = f"[tool.poolwarden.{name}]"
        prefix = "tool.poolwarden."
        if not isinstance(table, dict):
            raise UsageError(f"{path}: 'tool.poolwarden' must be a table")
    else:
        table = data
        where = f"[{name}]"
        prefix = ""
    for key in table:
        if key not in SECTIONS:
            known = [prefix + s for s in SECTIONS]
            raise UsageError(f"{path}: unknown section {prefix + key!r}{did_you_mean(prefix + key, known)} "
                             f"(expected one of: {', '.join(known)})")
    return table.get(name), where


def find(start: Path, name: str | None = None) -> Path | None:
    """The nearest poolwarden.toml, or pyproject.toml with a ``[tool.poolwarden]`` table, upwards
    from ``start``; with ``name``, only files that hold that section. A file that cannot be read
    is returned, so that reading it reports the problem."""
    start = start.resolve()
    directories = [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]
    for directory in directories:
        for filename in ("poolwarden.toml", "pyproject.toml"):
            candidate = directory / filename
            if not candidate.is_file():
                continue
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return candidate
            table = data if filename == "poolwarden.toml" else _tool(data)
            if filename == "pyproject.toml" and table is None:
                continue
            if name is None or (isinstance(table, dict) and name in table):
                return candidate
    return None
