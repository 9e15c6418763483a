"""The one low-level reader: the bytes of a regular file, read without blocking, within a size limit.

Source files (through :mod:`poolwarden.check.source`), ignore files, the cache and the warm-run memo
are all read here. Promises: only a regular file is ever read — the file is opened non-blocking
(a FIFO, socket or device cannot hang the open) and refused after an ``fstat`` of the open
descriptor (a file swapped for a FIFO after a ``stat`` is refused too); at most ``max_size + 1``
bytes are read (0: no limit). Never raises for a file that cannot be read: the answer says why.

This module imports only :mod:`os` and :mod:`stat`: a warm run reads its memo with it before
anything else of the analyzer is loaded.
"""

from __future__ import annotations

import os
import stat

#: Why a file was refused without an error from the system: ("not-regular", st_mode) or
#: ("too-big", the size seen).
Refusal = tuple[str, int]


def read(path: str | os.PathLike[str], max_size: int) -> bytes | OSError | Refusal:
    """The bytes of the regular file ``path`` of at most ``max_size`` bytes (0: no limit); else the
    :class:`OSError` that stopped the read, or a :data:`Refusal`."""
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        return exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ("not-regular", st.st_mode)
        if max_size and st.st_size > max_size:
            return ("too-big", st.st_size)
        chunks: list[bytes] = []
        total = 0
        limit = max_size + 1 if max_size else None
        while True:
            want = 1 << 20 if limit is None else min(1 << 20, limit - total)
            if want <= 0:
                break
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if max_size and total > max_size:  # it grew after the fstat
            return ("too-big", total)
        return b"".join(chunks)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """A reader's name for a non-regular file type: "FIFO", "socket", "directory", "device"."""
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
