"""``pgbouncer.ini``: the settings that bound PgBouncer's connections, on both sides.

Read from ``[pgbouncer]``: ``pool_mode`` (default ``session``), ``default_pool_size`` (20),
``reserve_pool_size`` (0), ``max_db_connections`` (0: no limit), ``max_client_conn`` (100); and
from ``[databases]``: each entry's own ``pool_size``, ``reserve_pool``/``reserve_pool_size``,
``max_db_connections`` and ``pool_mode`` (the connection string is read for these keys only and
never printed). Each entry is one server pool (one user each; PgBouncer makes one pool per
database/user pair, so more users mean more pools: say so in ``[budget.pgbouncer] pools``); a
``*`` fallback entry counts as one pool.

Strict, like PgBouncer itself: a line that is neither a section, a ``key = value`` nor a comment,
a key given twice, a number that is not one, an unknown ``pool_mode`` are
:class:`~poolwarden.errors.UsageError`\\ s naming the file and line or key. ``%include`` is refused
(not followed): give the settings in one file.

:func:`pool_mode` is the small entry point ``check`` uses to know whether code runs behind a
transaction-mode pooler.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.budget.model import PgBouncerLayer
from poolwarden.errors import UsageError

POOL_MODES = frozenset({"session", "transaction", "statement"})
_INT_KEYS = {"default_pool_size": 20, "reserve_pool_size": 0, "max_db_connections": 0, "max_client_conn": 100}
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

    def layer(self) -> PgBouncerLayer:
        s = self.settings
        return PgBouncerLayer(default_pool_size=s["default_pool_size"], pools=max(1, len(self.databases)),
                              reserve_pool_size=s["reserve_pool_size"], max_client_conn=s["max_client_conn"],
                              pool_mode=self.pool_mode, max_db_connections=s["max_db_connections"],
                              pool_sizes=tuple(size for _, size, _ in self.databases), origin=self.where)

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
    return PgBouncerIni(where, mode, settings, sources, tuple(databases))


def pool_mode(path: str | Path) -> str:
    """The default ``pool_mode`` of the pgbouncer.ini at ``path`` (``session`` when unset).
    Raises :class:`UsageError` when the file cannot be read or is not a valid pgbouncer.ini.
    :attr:`PgBouncerIni.modes` also has the modes ``[databases]`` entries set for themselves."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return read_pgbouncer_ini(data, str(path)).pool_mode
