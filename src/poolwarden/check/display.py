"""How ``poolwarden check`` spells paths: relative to the working directory when the file is under
it, absolute otherwise (as ruff does), whatever spelling the user typed.

Findings, and the callee locations inside their messages (``… at line 27 in app/validation.py``),
carry the path a file was discovered under; spelling every target the same way up front makes
both speak the same language, and makes ``check app/x.py /repo/app/x.py`` check one file once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def display_path(path: str, cwd: str | None = None) -> str:
    """``path`` relative to ``cwd`` (default: the working directory) when under it, else absolute."""
    base = os.path.abspath(cwd if cwd is not None else os.getcwd())
    absolute = os.path.normpath(os.path.join(base, path))
    rel = os.path.relpath(absolute, base)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return absolute
    return rel


def canonical_targets(targets: Iterable[str], cwd: str | None = None) -> list[str]:
    """``targets`` in display spelling, without repeats of one file or directory (by resolved
    path). ``-`` (standard input) passes through unchanged."""
    out: list[str] = []
    seen: set[str] = set()
    for target in targets:
        if target == "-":
            out.append(target)
            continue
        shown = display_path(target, cwd)
        real = os.path.realpath(os.path.join(cwd or os.getcwd(), shown))
        if real not in seen:
            seen.add(real)
            out.append(shown)
    return out
