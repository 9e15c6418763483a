"""Optional dependencies: each command that needs a driver or library names the extra that brings it."""

from __future__ import annotations

import importlib
from typing import Any

from poolwarden.errors import UsageError


def require(module: str, command: str, package: str, extra: str) -> Any:
    """``module`` imported, or a :class:`UsageError` in one line naming what to install:
    ``doctor needs psycopg: pip install 'poolwarden[doctor]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{command} needs {package}: pip install 'poolwarden[{extra}]'") from None
