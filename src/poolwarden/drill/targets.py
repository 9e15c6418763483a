"""What a drill drives: HTTP endpoints (``--url``) or Python callables (``--call module:function``).

A target is called with a timeout and returns ``(status, body)``: the HTTP status and body, or
``(None, repr(return value))`` for a callable. Transport failures and exceptions propagate.
Async callables run on :func:`poolwarden.runtime.bridge.run_async`'s persistent loop.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from poolwarden.dsn import mask
from poolwarden.errors import UsageError

__all__ = ["CallTarget", "HttpTarget", "Target", "digest"]


class HttpTarget:
    """One HTTP request, sent on a fresh connection each time (stdlib ``http.client``)."""

    def __init__(self, url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
                 body: bytes | None = None) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises ValueError for a port out of range
        except ValueError as exc:
            raise UsageError(f"--url {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url {url!r}: expected an http:// or https:// URL")
        if any(ord(c) < 33 for c in url):
            raise UsageError(f"--url {url!r}: whitespace or a control character in the URL")
        if not re.fullmatch(r"[A-Za-z]+", method):
            raise UsageError(f"--method {method!r}: expected an HTTP method such as GET or POST")
        for name, value in (headers or {}).items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or any(ord(c) < 32 for c in value):
                raise UsageError(f"--header {name!r}: not a valid header name and value")
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body
        self._parts = parts
        self.label = f"{self.method} {url}"

    def __call__(self, timeout: float) -> tuple[int | None, bytes]:
        p = self._parts
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname or "", p.port, timeout=timeout)
        try:
            path = (p.path or "/") + (f"?{p.query}" if p.query else "")
            conn.request(self.method, path, body=self.body, headers=self.headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


class CallTarget:
    """A Python callable, by reference (``package.module:function``) or object.

    A reference is imported from ``path`` (default: the current directory), as ``python -m``
    would; a bad spelling, a module that does not import, a missing or non-callable attribute
    raise :class:`UsageError` with one line."""

    def __init__(self, ref: str | Callable[..., Any], *, path: str | None = None) -> None:
        if callable(ref):
            self.fn = ref
            self.label = f"{getattr(ref, '__module__', '?')}:{getattr(ref, '__qualname__', repr(ref))}"
            return
        module_name, sep, attr = ref.partition(":")
        if not sep or not _dotted(module_name) or not _dotted(attr):
            raise UsageError(f"--call {ref!r}: expected module:function (e.g. billing.api:check_subscription)")
        where = os.path.abspath(path or os.getcwd())
        if where not in sys.path:
            sys.path.insert(0, where)
        hint = "" if path else "; give --app-cwd DIR to import from elsewhere"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"--call {ref!r}: cannot import {module_name} from {where}: {exc}{hint}") from None
        except BaseException as exc:  # poolwarden: ignore[PW101] -- the user's module failed: one line, exit 2
            if isinstance(exc, KeyboardInterrupt):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise UsageError(f"--call {ref!r}: importing {module_name} failed: {type(exc).__name__}: {mask(first)}") \
                from None
        fn: Any = module
        for part in attr.split("."):
            if not hasattr(fn, part):
                raise UsageError(f"--call {ref!r}: {module_name} has no attribute {attr}")
            fn = getattr(fn, part)
        if not callable(fn):
            raise UsageError(f"--call {ref!r}: {attr} in {module_name} is not callable "
                             f"(a {type(fn).__name__})")
        self.fn = fn
        self.label = ref

    def __call__(self, timeout: float) -> tuple[int | None, bytes]:
        if inspect.iscoroutinefunction(self.fn):
            from poolwarden.runtime.bridge import run_async

            result = run_async(self.fn())
        else:
            result = self.fn()
        return None, repr(result).encode()


Target = HttpTarget | CallTarget

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _dotted(name: str) -> bool:
    return _DOTTED.fullmatch(name) is not None


def digest(body: bytes) -> str:
    """A short digest of an answer; JSON bodies are compared with their keys sorted."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()[:16]
