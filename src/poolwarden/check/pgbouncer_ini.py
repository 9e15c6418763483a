"""What a ``pgbouncer.ini`` says about the pooling mode code runs behind (for ``check``'s PW111).

:func:`pool_mode` reads the ``[pgbouncer]`` section's ``pool_mode`` (PgBouncer's default: ``session``),
a ``pool_mode=`` in a ``[databases]`` entry's connection string (a database pooled by transaction makes
the file's verdict ``transaction``), and ``max_prepared_statements`` (PgBouncer >= 1.21 keeps
protocol-level prepared statements working in transaction mode when it is above 0). Each answer names
the line it came from. A file that cannot be read (missing, not a regular file — a FIFO is never
opened —, over 1 MiB, not UTF-8), or has no ``[pgbouncer]`` section, raises :class:`IniError` with a
one-line message. ``%include`` lines are not followed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from poolwarden.check import knowledge as K
from poolwarden.errors import UsageError

_MAX_SIZE = 1 << 20  # a pgbouncer.ini is small; a bigger file is not one


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
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise IniError(f"{name}: cannot read the pgbouncer.ini: not a regular file")
        if st.st_size > _MAX_SIZE:
            raise IniError(f"{name}: cannot read the pgbouncer.ini: over {_MAX_SIZE:,} bytes")
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path; UnicodeDecodeError is one
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            ("not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not a valid path")
        raise IniError(f"{name}: cannot read the pgbouncer.ini: {reason}") from None
    section = ""
    seen = False
    mode = PoolMode(K.PGBOUNCER_DEFAULT_MODE, f"{name} [pgbouncer], PgBouncer's default")
    database_mode: PoolMode | None = None
    prepared = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            seen = seen or section == "pgbouncer"
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        key, value = key.strip().lower(), _uncomment(value)
        if section == "pgbouncer" and key == "pool_mode":
            mode = PoolMode(value.lower(), f"{name}:{number}")
        elif section == "pgbouncer" and key == "max_prepared_statements":
            prepared = value.isdigit() and int(value) > 0
        elif section == "databases" and database_mode is None:
            for part in value.split():
                k, _, v = part.partition("=")
                if k.strip().lower() == "pool_mode" and v.strip().lower() in K.POOLER_MODES:
                    database_mode = PoolMode(v.strip().lower(), f"{name}:{number}")
    if not seen:
        raise IniError(f"{name}: not a pgbouncer.ini: no [pgbouncer] section")
    chosen = mode if mode.mode in K.POOLER_MODES or database_mode is None else database_mode
    return PoolMode(chosen.mode, chosen.where, prepared)


def _uncomment(value: str) -> str:
    for mark in (" ;", " #", "\t;", "\t#"):
        at = value.find(mark)
        if at >= 0:
            value = value[:at]
    return value.strip()
