"""Errors the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: a missing path, an unknown code, a malformed config."""
