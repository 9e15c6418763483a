"""The ``poolwarden`` command line: thin over the library (parse arguments, call, print).

Exit codes everywhere: 0 clean, 1 findings, 2 usage or internal error — always with a
one-line message on stderr, never a bare traceback.
"""

from __future__ import annotations

from poolwarden.cli import budget, check, doctor, drill  # noqa: F401  (each registers its commands)
from poolwarden.cli.base import main

__all__ = ["main"]
