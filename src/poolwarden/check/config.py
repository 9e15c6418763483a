"""``[tool.poolwarden.check]`` (pyproject.toml) or ``[check]`` (poolwarden.toml) settings.

Recognised keys: ``select``, ``extend-select`` (added to ``select``: how the opt-in rules such as
PW108 are turned on without restating the rest), ``ignore``, ``exclude``, ``per-file-ignores`` (glob -> codes,
globs relative to the config file's directory), ``cache-dir``, ``max-file-size`` (bytes, or a
string such as ``"2MB"``; 0: no limit), and the PgBouncer pooling mode the checked code runs behind
(PW111): ``pgbouncer`` (``"session"``, ``"transaction"`` or ``"statement"``) or ``pgbouncer-ini`` (a
pgbouncer.ini, relative to the config file, whose ``pool_mode`` decides; a missing file or one without a
``[pgbouncer]`` section is a :class:`ConfigError`). An unknown section or key, a value of the wrong type, an
empty or unknown rule code or an empty ``select`` is a :class:`ConfigError` naming the file and the
key, so a typo never silently disables a rule.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.check import knowledge as K
from poolwarden.check.pgbouncer_ini import PoolMode, pool_mode
from poolwarden.check.source import DEFAULT_MAX_FILE_SIZE, parse_size
from poolwarden.config import did_you_mean, find, section
from poolwarden.errors import UsageError

_KEYS = ("select", "extend-select", "ignore", "exclude", "per-file-ignores", "cache-dir", "max-file-size",
         "pgbouncer", "pgbouncer-ini")


class ConfigError(UsageError):
    """The configuration file is malformed."""


@dataclass
class CheckConfig:
    """Resolved settings of a check run."""

    select: list[str] = field(default_factory=lambda: ["PW"])
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    cache_dir: str = ".poolwarden_cache"
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; a bigger file is skipped with PW000; 0: no limit
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None
    pooler: PoolMode | None = None  # the PgBouncer mode the code runs behind, when configured (PW111)
    pgbouncer_ini: Path | None = None  # the pgbouncer.ini that decided it (a warm run re-probes it)

    @property
    def selected(self) -> list[str]:
        """What selects rules: ``select`` and ``extend-select``."""
        return [*self.select, *self.extend_select]

    def ignored_codes(self, path: str) -> frozenset[str]:
        """Codes that ``per-file-ignores`` turns off for ``path``."""
        if not self.per_file_ignores:
            return frozenset()
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.root.resolve()).as_posix()
        except ValueError:
            rel = Path(path).as_posix()
        out: set[str] = set()
        for pattern, codes in self.per_file_ignores.items():
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
                out.update(_expand(codes))
        return frozenset(out)


def _expand(codes: list[str]) -> set[str]:
    from poolwarden.check.registry import expand_codes

    return expand_codes(codes)


def find_config(start: Path) -> Path | None:
    """The nearest poolwarden.toml, or pyproject.toml with a [tool.poolwarden] table, upwards from ``start``."""
    return find(start)


def load_config(path: Path | None) -> CheckConfig:
    """Read the check settings from ``path`` (None: defaults). Raises :class:`ConfigError`."""
    if path is None:
        return CheckConfig()
    try:
        raw, where = section(path, "check")
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    section_table = {} if raw is None else raw
    if not isinstance(section_table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    config = CheckConfig(root=path.parent, source=path)
    for key, value in section_table.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: {where}: unknown key {key!r}{did_you_mean(key, _KEYS)} "
                              f"(expected one of: {', '.join(_KEYS)})")
        if key == "per-file-ignores":
            if not isinstance(value, dict) or not all(_is_str_list(v) for v in value.values()):
                raise ConfigError(f"{path}: {where}: 'per-file-ignores' must map globs to lists of codes")
            for glob, codes in value.items():
                _validate_codes(codes, f"{path}: {where}: per-file-ignores {glob!r}")
            config.per_file_ignores = dict(value)
        elif key == "max-file-size":
            try:
                config.max_file_size = parse_size(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: {where}: 'max-file-size' {exc}") from None
        elif key in ("pgbouncer", "pgbouncer-ini"):
            if config.pooler is not None:
                raise ConfigError(f"{path}: {where}: give one of 'pgbouncer' and 'pgbouncer-ini', not both")
            config.pooler = _pooler(path, where, key, value)
            config.pgbouncer_ini = path.parent / value if key == "pgbouncer-ini" else None
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{path}: {where}: 'cache-dir' must be a non-empty string")
            config.cache_dir = str(path.parent / value)
        else:
            if not _is_str_list(value):
                raise ConfigError(f"{path}: {where}: {key!r} must be a list of strings")
            if key == "select" and not value:
                raise ConfigError(f"{path}: {where}: 'select' is empty, so no rule would run "
                                  "(remove the key to run every rule)")
            if key in ("select", "extend-select", "ignore"):
                _validate_codes(value, f"{path}: {where}: {key}")
            setattr(config, key.replace("-", "_"), list(value))
    return config


def apply_options(config: CheckConfig, select: str | None, ignore: str | None,
                  extend_select: str | None = None, pgbouncer_ini: str | None = None) -> None:
    """Apply ``--select`` (replaces the configured selection), ``--extend-select`` and ``--ignore``
    (add to theirs), and ``--pgbouncer-ini`` (replaces the configured pooler: ``pgbouncer`` /
    ``pgbouncer-ini``; the path is relative to the current directory).

    Each is a comma-separated list of codes or prefixes; raises :class:`UsageError` naming the
    option for an unknown code, or for a ``--select`` that names no code at all.
    """
    if select is not None:
        codes = _split(select)
        if not codes:
            raise UsageError("--select: no rule code given, so no rule would run (omit it to run every rule)")
        _validate_codes(codes, "--select")
        config.select = codes
    if extend_select is not None:
        codes = _split(extend_select)
        _validate_codes(codes, "--extend-select")
        config.extend_select = [*config.extend_select, *codes]
    if ignore is not None:
        codes = _split(ignore)
        _validate_codes(codes, "--ignore")
        config.ignore = [*config.ignore, *codes]
    if pgbouncer_ini is not None:
        try:
            config.pooler = pool_mode(pgbouncer_ini, _shown(Path(pgbouncer_ini)))
        except UsageError as exc:
            raise UsageError(f"--pgbouncer-ini: {exc}") from None
        config.pgbouncer_ini = Path(pgbouncer_ini)


def _pooler(path: Path, where: str, key: str, value: object) -> PoolMode:
    """The pooling mode the ``pgbouncer`` / ``pgbouncer-ini`` key says (see the module doc)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {where}: {key!r} must be a non-empty string")
    if key == "pgbouncer":
        if value not in K.POOL_MODES:
            raise ConfigError(f"{path}: {where}: 'pgbouncer' must be one of {', '.join(map(repr, K.POOL_MODES))}, "
                              f"not {value!r}")
        return PoolMode(value, f"pgbouncer = {value!r} in {_shown(path)} {where}")
    ini = path.parent / value
    try:
        return pool_mode(ini, _shown(ini))
    except UsageError as exc:
        raise ConfigError(f"{path}: {where}: 'pgbouncer-ini': {exc}") from None


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when under it (as findings name files)."""
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def _split(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _validate_codes(codes: list[str], where: str) -> None:
    from poolwarden.check.registry import UnknownCodeError, expand_codes

    try:
        expand_codes(codes)
    except UnknownCodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
