"""What a ``pgbouncer.ini`` says about the pooling mode code runs behind (for ``check``'s PW111).

:func:`pool_mode` reads the ``[pgbouncer]`` section's ``pool_mode`` (PgBouncer's default: ``session``),
a ``pool_mode=`` in a ``[databases]`` entry's connection string (a database pooled by transaction makes
the file's verdict ``transaction``), and ``max_prepared_statements`` (PgBouncer >= 1.21 keeps
protocol-level prepared statements working in transaction mode when it is above 0). Each answer names
the line it came from. The file is read by :mod:`poolwarden.pgbouncer_ini` (the reader ``budget``
uses too): one that cannot be read (missing, not a regular file — a FIFO is never opened —, over
1 MiB, not UTF-8), has no ``[pgbouncer]`` section, a line that is not ``key = value``, a key given
twice, or an unknown ``pool_mode`` raises :class:`IniError` with a one-line message. ``%include``
is refused, not followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from poolwarden.check import knowledge as K
from poolwarden.errors import UsageError
from poolwarden.pgbouncer_ini import read_file


class IniError(UsageError):
    """The pgbouncer.ini cannot be read or is not one."""


@dataclass(frozen=True, slots=True)
class PoolMode:
    """The pooling mode a pgbouncer.ini sets, and where (``deploy/pgbouncer.ini:3``; the section for a default)."""

    mode: str
    where: str
    prepared_statements: bool = False  # max_prepared_statements > 0


def pool_mode(path: str | os.PathLike[str], shown: str | None = None) -> PoolMode:
    """The pool mode of the pgbouncer.ini at ``path`` (``shown``: how messages name the file)."""
    name = shown if shown is not None else os.fspath(path)
    try:
        ini = read_file(path, name)
    except UsageError as exc:
        raise IniError(str(exc)) from None
    prepared = ini.settings["max_prepared_statements"] > 0
    pooled = [(db, mode) for db, _, mode in ini.databases if mode in K.POOLER_MODES]
    if ini.pool_mode in K.POOLER_MODES or not pooled:
        line = ini.lines.get(("pgbouncer", "pool_mode"))
        where = f"{name}:{line}" if line else f"{name} [pgbouncer], PgBouncer's default"
        return PoolMode(ini.pool_mode, where, prepared)
    db, mode = pooled[0]
    return PoolMode(mode, f"{name}:{ini.lines.get(('databases', db), 0)}", prepared)
