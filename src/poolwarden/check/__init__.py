"""``poolwarden check``: static analysis of Python code for connection-pool bugs (PW1xx).

The library API behind the CLI: :func:`check_paths` runs a check (:func:`check_source` on text
given directly); :class:`CheckConfig` and
:func:`load_config` / :func:`find_config` read ``[tool.poolwarden.check]``.
"""

from poolwarden.check.config import CheckConfig, ConfigError, find_config, load_config
from poolwarden.check.engine import CheckResult, check_paths, check_source
from poolwarden.check.finding import Finding

__all__ = ["CheckConfig", "CheckResult", "ConfigError", "Finding", "check_paths", "check_source", "find_config",
           "load_config"]
