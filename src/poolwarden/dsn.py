"""DSNs without secrets: every DSN poolwarden prints or puts in an error goes through :func:`mask`."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*):(?P<pw>[^@/?#\s]*)@", re.I)
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)


def mask(text: str) -> str:
    """``text`` with every password in a URL (``user:secret@``) or key/value DSN replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _KV_PASSWORD.sub(lambda m: f"{m.group('key')}***", text)


def connection_error(option: str, dsn: str, exc: BaseException) -> str:
    """``--dsn postgresql://app:***@db/x: <first line of the driver's message, masked>``."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{option} {mask(dsn)}: {mask(first)}"
