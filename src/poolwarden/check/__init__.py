"""``poolwarden check``: static analysis of Python code for connection-pool bugs (PW1xx).

The library API behind the CLI: :func:`check_paths` runs a check (:func:`check_source` on text
given directly); :class:`CheckConfig` and
:func:`load_config` / :func:`find_config` read ``[tool.poolwarden.check]``.

The names are imported when first used, not with the package: a warm run
(:mod:`poolwarden.check.warm`) loads only the few light modules it needs.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from poolwarden.check.config import CheckConfig, ConfigError, find_config, load_config
    from poolwarden.check.engine import CheckResult, check_paths, check_source
    from poolwarden.check.finding import Finding

__all__ = ["CheckConfig", "CheckResult", "ConfigError", "Finding", "check_paths", "check_source", "find_config",
           "load_config"]

_HOME = {
    "CheckConfig": "config", "ConfigError": "config", "find_config": "config", "load_config": "config",
    "CheckResult": "engine", "check_paths": "engine", "check_source": "engine", "Finding": "finding",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
