"""The one AST pass over a file (:class:`Walker`): keeps scopes and held connections, dispatches to rules.

The walk is split by concern: :mod:`.traversal` (the generic walk and rule dispatch), :mod:`.scopes`
(functions, classes, returns), :mod:`.names` (imports, assignments), :mod:`.flow` (``with`` / ``if``
/ ``try``), :mod:`.calls` (what each call does); :mod:`.walker` joins them. ``Walker`` is the one
name callers import.
"""

from __future__ import annotations

from poolwarden.check.walk.walker import Walker

__all__ = ["Walker"]
