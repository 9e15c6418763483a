"""``pgbouncer.ini``, read once for every command: the settings that bound PgBouncer's connections
on both sides (``budget``) and the pooling mode code runs behind (``check``'s PW111).

Read from ``[pgbouncer]``: ``pool_mode`` (default ``session``), ``default_pool_size`` (20),
``reserve_pool_size`` (0), ``max_db_connections`` (0: no limit), ``max_client_conn`` (100),
``max_prepared_statements`` (0; PgBouncer >= 1.21 keeps protocol-level prepared statements working
in transaction mode above 0); and
from ``[databases]``: each entry's own ``pool_size``, ``reserve_pool``/``reserve_pool_size``,
``max_db_connections`` and ``pool_mode`` (the connection string is read for these keys only and
never printed). Each entry is one server pool (one user each; PgBouncer makes one pool per
database/user pair, so more users mean more pools: say so in ``[budget.pgbouncer] pools``); a
``*`` fallback entry counts as one pool.

Strict, like PgBouncer itself: a line that is neither a section, a ``key = value`` nor a comment,
a key given twice, a number that is not one, an unknown ``pool_mode`` are
:class:`~poolwarden.errors.UsageError`\\ s naming the file and line or key. ``%include`` is refused
(not followed): give the settings in one file.

:func:`read_file` reads one from disk: a file that is missing, not a regular file (a FIFO is never
opened) or over 1 MiB is refused in one line. Each value's line is kept (:attr:`PgBouncerIni.lines`)
for messages that cite it.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.errors import UsageError

POOL_MODES = frozenset({"session", "transaction", "statement"})
_INT_KEYS = {"default_pool_size": 20, "reserve_pool_size": 0, "max_db_connections": 0, "max_client_conn": 100,
             "max_prepared_statements": 0}
MAX_SIZE = 1 << 20  # a pgbouncer.ini is small; a bigger file is not one
_MAX = 2**31 - 1
_PAIR = re.compile(r"([A-Za-z_]+)\s*=\s*('(?:[^']|'')*'|\S*)")


@dataclass(frozen=True)
class PgBouncerIni:
    """What a pgbouncer.ini says, each value with its source."""

    where: str
    pool_mode: str = "session"
    settings: dict[str, int] = field(default_factory=dict)  # the _INT_KEYS, defaults filled in
    sources: dict[str, str] = field(default_factory=dict)  # key -> "path: [pgbouncer] key" or "default"
    databases: tuple[tuple[str, int, str], ...] = ()  # (name, server connections it may open, pool_mode)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (section, key) -> its line (1-based)

    @property
    def modes(self) -> set[str]:
        """Every pool mode clients may get: the default and each database's own."""
        return {self.pool_mode, *(mode for _, _, mode in self.databases)}


def _int(value: str, where: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) > _MAX:
        raise UsageError(f"{where} = {text[:40]!r} is not a count (0 … {_MAX})")
    return int(text)


def _mode(value: str, where: str) -> str:
    mode = value.strip().lower()
    if mode not in POOL_MODES:
        raise UsageError(f"{where} = {value.strip()[:40]!r} is not a pool_mode (session, transaction, statement)")
    return mode


def read_pgbouncer_ini(data: bytes, where: str) -> PgBouncerIni:
    """Parse a pgbouncer.ini's bytes (``where`` names it in messages). Raises :class:`UsageError`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text: not a pgbouncer.ini") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().lower().startswith("%include"):
            raise UsageError(f"{where}:{number}: %include is not followed: give the settings in this file")
    parser = configparser.ConfigParser(interpolation=None, strict=True, comment_prefixes=(";", "#"),
                                       inline_comment_prefixes=None, delimiters=("=",))
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=where)
    except configparser.DuplicateOptionError as exc:
        raise UsageError(f"{where}:{exc.lineno}: [{exc.section}] {exc.option} given twice") from None
    except configparser.DuplicateSectionError as exc:
        raise UsageError(f"{where}:{exc.lineno}: section [{exc.section}] given twice") from None
    except configparser.MissingSectionHeaderError as exc:
        raise UsageError(f"{where}:{exc.lineno}: a line before any [section]") from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(n) for n, _ in exc.errors[:3])
        raise UsageError(f"{where}: line {lines}: not 'key = value', a [section] or a comment") from None
    except configparser.Error as exc:
        raise UsageError(f"{where}: not a pgbouncer.ini: {str(exc).splitlines()[0][:120]}") from None
    if not parser.has_section("pgbouncer"):
        raise UsageError(f"{where}: no [pgbouncer] section: not a pgbouncer.ini")
    main = parser["pgbouncer"]
    settings, sources = {}, {}
    for key, default in _INT_KEYS.items():
        if key in main:
            settings[key] = _int(main[key], f"{where}: [pgbouncer] {key}")
            sources[key] = f"{where}: [pgbouncer] {key}"
        else:
            settings[key] = default
            sources[key] = f"PgBouncer's default {default}"
    mode = _mode(main["pool_mode"], f"{where}: [pgbouncer] pool_mode") if "pool_mode" in main else "session"
    sources["pool_mode"] = f"{where}: [pgbouncer] pool_mode" if "pool_mode" in main else "PgBouncer's default session"
    databases = []
    if parser.has_section("databases"):
        for name, conninfo in parser["databases"].items():
            at = f"{where}: [databases] {name}"
            pairs = {k.lower(): v.strip("'") for k, v in _PAIR.findall(conninfo)}
            size = _int(pairs["pool_size"], f"{at} pool_size") if "pool_size" in pairs \
                else settings["default_pool_size"]
            reserve_key = "reserve_pool_size" if "reserve_pool_size" in pairs else "reserve_pool"
            reserve = _int(pairs[reserve_key], f"{at} {reserve_key}") if reserve_key in pairs \
                else settings["reserve_pool_size"]
            limit = _int(pairs["max_db_connections"], f"{at} max_db_connections") \
                if "max_db_connections" in pairs else settings["max_db_connections"]
            opens = size + reserve if limit == 0 else min(size + reserve, limit)
            own = _mode(pairs["pool_mode"], f"{at} pool_mode") if "pool_mode" in pairs else mode
            databases.append((name, opens, own))
    return PgBouncerIni(where, mode, settings, sources, tuple(databases), _lines(text))


def _lines(text: str) -> dict[tuple[str, str], int]:
    """Where each ``key =`` of each section is (sections and keys lower-cased, as read)."""
    found: dict[tuple[str, str], int] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif "=" in line and line[0] not in ";#":
            found.setdefault((section, line.partition("=")[0].strip().lower()), number)
    return found


def read_file(path: str | os.PathLike[str], shown: str | None = None) -> PgBouncerIni:
    """The pgbouncer.ini at ``path`` (``shown``: how messages name it). Raises :class:`UsageError`."""
    name = shown if shown is not None else os.fspath(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{name}: cannot read the pgbouncer.ini: not a regular file")
        if st.st_size > MAX_SIZE:
            raise UsageError(f"{name}: cannot read the pgbouncer.ini: over {MAX_SIZE:,} bytes")
        data = Path(path).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
        raise UsageError(f"{name}: cannot read the pgbouncer.ini: {reason}") from None
    return read_pgbouncer_ini(data, name)


def pool_mode(path: str | Path) -> str:
    """The default ``pool_mode`` of the pgbouncer.ini at ``path`` (``session`` when unset).
    Raises :class:`UsageError` when the file cannot be read or is not a valid pgbouncer.ini.
    :attr:`PgBouncerIni.modes` also has the modes ``[databases]`` entries set for themselves."""
    return read_file(path).pool_mode
